"""Full user sync at scale against the sandbox, with real Redis.

    .venv/bin/python bench/full_sync.py [--users 10000]

Measures, in one run: a cold sync (every user becomes an extension), the baseline of just
reading both sides (all users and deleted users from Graph; all extensions and the details
of the linked ones from the PBX), and a no-op re-sync; requests by kind, wall and CPU time,
and the bench process's peak RSS (the simulators run in their own process). Targets:
one PBX write per created extension plus at most one lookup each; Graph reads of
ceil(N/999) pages per listing; zero PBX writes on the no-op re-sync; no-op wall time at most
1.5x the baseline read; peak RSS under 300 MB. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from core.clients import graph_client, pbx_client, sandbox_environment  # noqa: E402
from core.config import Settings  # noqa: E402
from core.engine.engine import run_here  # noqa: E402
from core.store.redis import StateStore  # noqa: E402
from core.users.directory import read_directory  # noqa: E402
from core.users.sync import UserSync, read_pbx  # noqa: E402
from sandbox.redis_server import RedisServer  # noqa: E402

PBX_WRITES = ("POST /openapi/v1.0/extension/create", "POST /openapi/v1.0/extension/update",
              "GET /openapi/v1.0/extension/delete")


class Counts:
    def __init__(self, values: dict[str, Any]) -> None:
        self.session = requests.Session()
        self.session.trust_env = False
        self.graph = values["authority_host"]
        self.pbx = values["pbx_base_url"]
        self.ca = values["ca_bundle"]

    def reset(self) -> None:
        self.session.delete(f"{self.graph}/_sandbox/requests", verify=self.ca, timeout=30)
        self.session.delete(f"{self.pbx}/_sandbox/requests", timeout=30)

    def read(self) -> dict[str, int]:
        graph = self.session.get(f"{self.graph}/_sandbox/requests", verify=self.ca, timeout=30)
        pbx = self.session.get(f"{self.pbx}/_sandbox/requests", timeout=30)
        return graph.json()["by_method_path"] | pbx.json()["by_method_path"]


def timed(work: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true", help="print, do not update the doc")
    args = parser.parse_args()
    server = RedisServer()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--seed", str(args.users), "--pbx-capacity",
         str(args.users * 2), "--duplicate-rate", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert sandbox.stdout is not None
        values = json.loads(sandbox.stdout.readline())
        settings = Settings.from_env(sandbox_environment(values) | {
            "SECRET_KEY": "bench-full-sync-key-Wm6Qz1Xk8Nr3Lt5Vd9Hs", "REDIS_URL": server.url})
        graph, pbx = graph_client(settings), pbx_client(settings)
        state = StateStore(redis.Redis.from_url(server.url))
        counts = Counts(values)
        rules = state.settings()["users"]

        counts.reset()
        cold, cold_wall, cold_cpu = timed(lambda: run_here(
            [UserSync()], graph=graph, pbx=pbx, store=state))
        cold_counts = counts.read()

        def read_both() -> None:
            read_directory(graph, rules)
            read_pbx(pbx, [link.ext_id for link in state.user_links().values()], set())

        counts.reset()
        _, base_wall, base_cpu = timed(read_both)
        base_counts = counts.read()

        counts.reset()
        noop, noop_wall, noop_cpu = timed(lambda: run_here(
            [UserSync()], graph=graph, pbx=pbx, store=state))
        noop_counts = counts.read()
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        pbx.token_source.close()
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=60)
        server.stop()

    created = cold["counts"]["created"]
    users_in_tenant = args.users
    pages = math.ceil(users_in_tenant / 999)

    def pbx_writes(c: dict[str, int]) -> int:
        return sum(c.get(k, 0) for k in PBX_WRITES)

    lookups = (cold_counts.get("GET /openapi/v1.0/extension/list", 0)
               + cold_counts.get("GET /openapi/v1.0/extension/search", 0)
               + cold_counts.get("GET /openapi/v1.0/extension/query", 0))
    rows = [
        ("Cold sync: extensions created", f"{created}", ""),
        ("Cold sync: PBX writes", f"{pbx_writes(cold_counts)}",
         f"target {created} (one per created extension)"),
        ("Cold sync: PBX lookups (list/search/query pages)", f"{lookups}",
         f"target at most {created}"),
        ("Cold sync: Graph `GET /users` pages", f"{cold_counts.get('GET /v1.0/users', 0)}",
         f"target ceil({users_in_tenant}/999) = {pages}"),
        ("Cold sync: wall time", f"{cold_wall:.1f} s", ""),
        ("Cold sync: CPU time of the sync process per user",
         f"{cold_cpu / max(created, 1) * 1000:.2f} ms", f"{cold_cpu:.1f} s in all"),
        ("Baseline: read both sides, wall time", f"{base_wall:.2f} s",
         f"{sum(base_counts.values())} requests"),
        ("No-op re-sync: wall time", f"{noop_wall:.2f} s",
         f"{noop_wall / base_wall:.2f}x the baseline (target at most 1.5x)"),
        ("No-op re-sync: PBX writes", f"{pbx_writes(noop_counts)}", "target 0"),
        ("No-op re-sync: requests", f"{sum(noop_counts.values())}",
         f"Graph users pages {noop_counts.get('GET /v1.0/users', 0)}, PBX list pages "
         f"{noop_counts.get('GET /openapi/v1.0/extension/list', 0)}, PBX detail queries "
         f"{noop_counts.get('GET /openapi/v1.0/extension/query', 0)}"),
        ("Peak RSS of the sync process", f"{peak_rss_mb:.0f} MB", "target under 300 MB"),
        ("CPU time, no-op re-sync", f"{noop_cpu:.2f} s", f"baseline read {base_cpu:.2f} s"),
    ]
    table = "| measure | value | note |\n|---|---|---|\n" + "\n".join(
        f"| {a} | {b} | {c} |" for a, b, c in rows)
    body = (f"Tenant of {users_in_tenant} seeded users (`python -m sandbox --seed "
            f"{users_in_tenant}`), default user-sync settings (all users; disabled and deleted "
            f"accounts not synced), real `redis-server`. Cold summary: {cold['summary']}\n\n"
            f"{table}\n")
    print(body)
    if not args.no_write:
        write_section("full_sync", body)
    ok = (pbx_writes(noop_counts) == 0 and noop_wall <= 1.5 * base_wall and peak_rss_mb < 300
          and pbx_writes(cold_counts) == created and lookups <= created
          and noop["state"] == "succeeded")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
