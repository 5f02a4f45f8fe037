"""The cost of a user sync in a process of its own: CPU per user and the peak RSS of the sync.

    .venv/bin/python -m bench.sync_cost --users 50000

Run by bench/full_sync.py once per tenant size, so that the peak RSS is the sync's alone: the
simulators and Redis run in processes of their own, and nothing else has run in this one.
`--colds` cold syncs, each on a fresh sandbox and Redis, then `--noops` no-op re-syncs on the
last (the median of each is kept: a cold sync of 1,000 users takes two seconds and a no-op a
tenth of one, and one run is noisy), at the default PBX concurrency and without latency, each
with the CPU Python's garbage collector took in it; prints one JSON line.
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


def measured(rig: Rig, collector: GcClock) -> dict[str, Any]:
    """One user sync on `rig`: its wall and CPU time, the GC's share, and what it did."""
    rig.reset_counts()
    collector.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    run = rig.sync(UserSync())
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
            "gc_s": collector.seconds, "state": run["state"], "error": run.get("error"),
            "summary": run.get("summary"), "counts": run["counts"],
            "pbx_writes": rig.counts().pbx_writes, "peak_rss_mb": peak_rss_mb()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--noops", type=int, default=3)
    parser.add_argument("--colds", type=int, default=1,
                        help="cold syncs, each on a fresh sandbox and Redis; the median is kept")
    args = parser.parse_args()
    if args.colds < 1 or args.noops < 1:
        parser.error("--colds and --noops take 1 or more")
    collector = GcClock()
    found: dict[str, Any] = {"users": args.users, "rss_before_mb": peak_rss_mb()}
    colds = []
    for index in range(args.colds):
        with Rig(args.users) as rig:
            colds.append(measured(rig, collector))
            if index < args.colds - 1:
                continue
            noops = sorted((measured(rig, collector) for _ in range(args.noops)),
                           key=lambda r: r["cpu_s"])
            found["links"] = len(rig.store.user_links())
    found["cold"] = sorted(colds, key=lambda r: r["cpu_s"])[len(colds) // 2] | {
        "cpu_s_all": [r["cpu_s"] for r in colds], "peak_rss_mb": peak_rss_mb()}
    found["noop"] = noops[len(noops) // 2] | {
        "cpu_s_all": [r["cpu_s"] for r in noops],
        "pbx_writes": sum(r["pbx_writes"] for r in noops),
        "wall_s": statistics.median(r["wall_s"] for r in noops),
        "peak_rss_mb": peak_rss_mb()}
    print(json.dumps(found), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
