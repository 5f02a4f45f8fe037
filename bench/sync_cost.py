"""The cost of a user sync in a process of its own: CPU per user and the peak RSS of the sync.

    .venv/bin/python -m bench.sync_cost --users 50000

Run by bench/full_sync.py once per tenant size, so that the peak RSS is the sync's alone: the
simulators and Redis run in processes of their own, and nothing else has run in this one.
A cold sync, then `--noops` no-op re-syncs (their median is kept: a no-op of a small tenant
costs a tenth of a second, and one run is noisy), at the default PBX concurrency and without
latency, each with the CPU Python's garbage collector took in it; prints one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rig import Rig
from core.users.sync import UserSync


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, the high-water mark of its own memory since exec
    (`ru_maxrss` would also count the parent's peak at fork, which Linux carries over exec)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class GcClock:
    """CPU seconds spent in Python's garbage collections since the last `reset()`."""

    def __init__(self) -> None:
        self.seconds, self._started = 0.0, 0.0
        gc.callbacks.append(self._tick)

    def reset(self) -> None:
        self.seconds = 0.0

    def _tick(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--noops", type=int, default=3)
    args = parser.parse_args()
    collector = GcClock()
    with Rig(args.users) as rig:
        found: dict[str, Any] = {"users": args.users, "rss_before_mb": peak_rss_mb()}
        runs = []
        for _ in range(1 + args.noops):
            rig.reset_counts()
            collector.reset()
            wall, cpu = time.perf_counter(), time.process_time()
            run = rig.sync(UserSync())
            runs.append({"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                         "gc_s": collector.seconds, "state": run["state"],
                         "error": run.get("error"), "summary": run.get("summary"),
                         "counts": run["counts"], "pbx_writes": rig.counts().pbx_writes,
                         "peak_rss_mb": peak_rss_mb()})
        found["cold"] = runs[0]
        noops = sorted(runs[1:], key=lambda r: r["cpu_s"])
        found["noop"] = noops[len(noops) // 2] | {
            "cpu_s_all": [r["cpu_s"] for r in runs[1:]],
            "pbx_writes": sum(r["pbx_writes"] for r in runs[1:]),
            "wall_s": statistics.median(r["wall_s"] for r in runs[1:]),
            "peak_rss_mb": peak_rss_mb()}
        found["links"] = len(rig.store.user_links())
    print(json.dumps(found), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
