"""Full user sync at a realistic latency, against the sandbox, with real Redis.

    .venv/bin/python bench/full_sync.py --pbx-latency-ms 50 --graph-latency-ms 50 \
        [--users 1000,10000] [--curve 1,2,4,8,16] [--cost-users 1000,10000,50000]

Every request to each simulator waits the given latency first (the sandbox's latency fault,
`POST /_sandbox/faults` with status 200), and the simulators serve requests side by side. Each
sync runs as the worker runs it, under the fenced sync lock (bench/rig.py). In one run, each
cold sync on a fresh sandbox and a fresh Redis:

1. Cold sync of each tenant size at the default PBX concurrency (4) and at 16, against the
   sequential floor of that very sync: its PBX requests x the PBX latency + its Graph requests
   that crossed the network x the Graph latency (a `$batch` counts once). Zero duplicate
   extensions and zero failures, checked on the PBX simulator's end state.
2. The no-op re-sync against a bare read of both sides (bench/bare_read.py), the same
   requests with the same concurrency, in rounds taking turns: at the latency, and without.
3. A concurrency curve (1, 2, 4, 8, 16) of the cold sync at the first size.
4. Personal contacts of 1,000 mailboxes at the Graph latency, batched against one request per
   mailbox (bench/contacts_read.py).
5. Cost growth without latency (bench/sync_cost.py, a process per size): CPU per user and
   the peak RSS of the sync process.

About 13 minutes on 2 cores with the defaults. Results go to docs/benchmarks.md (section
`full_sync`); `--json FILE` keeps the raw figures, `--render FILE` writes them again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bare_read import bare_read  # noqa: E402
from bench.contacts_read import contacts_read  # noqa: E402
from bench.full_sync_report import render  # noqa: E402
from bench.report import write_section  # noqa: E402
from bench.rig import Rig  # noqa: E402
from core.users.directory import user_select  # noqa: E402
from core.users.sync import UserSync  # noqa: E402

DEFAULT_WIDTH = 4
COLDS = 3  # cold syncs per tenant size up to 10,000 in the cost part, the median kept


def timed(work: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def cold_sync(rig: Rig, width: int, pbx_ms: int, graph_ms: int) -> dict[str, Any]:
    """One cold sync at `width`, with its floor and the PBX's end state."""
    rig.set_concurrency(width)
    rig.latency(pbx_ms=pbx_ms, graph_ms=graph_ms)
    rig.reset_counts()
    others = rig.others_cpu()
    run, wall, cpu = timed(lambda: rig.sync(UserSync()))
    others = {k: v - others[k] for k, v in rig.others_cpu().items()}
    counts = rig.counts()
    rig.latency(pbx_ms=0, graph_ms=0)
    return {"width": width, "wall": wall, "cpu": cpu, "others_cpu": others, "state": run["state"],
            "counts": run["counts"], "pbx_requests": counts.pbx_total,
            "graph_wire": counts.graph_wire, "pbx_writes": counts.pbx_writes,
            "floor": counts.floor(pbx_ms, graph_ms), "end": rig.pbx_end_state()}


def noop_against_bare(rig: Rig, width: int, pbx_ms: int, graph_ms: int,
                      rounds: int) -> dict[str, Any]:
    """No-op re-syncs and bare reads taking turns, `rounds` each, at the given latency."""
    rig.latency(pbx_ms=pbx_ms, graph_ms=graph_ms)
    select = user_select(rig.store.settings()["users"])
    linked = {link.ext_id for link in rig.store.user_links().values()}
    found: dict[str, Any] = {"noop": [], "bare": [], "noop_cpu": [], "bare_cpu": [],
                             "writes": 0, "failed": 0}
    for _ in range(rounds):
        rig.reset_counts()
        run, wall, cpu = timed(lambda: rig.sync(UserSync()))
        noop_counts = rig.counts()
        found["noop"].append(wall)
        found["noop_cpu"].append(cpu)
        found["writes"] += noop_counts.pbx_writes
        found["failed"] += run["counts"]["failed"] + (run["state"] != "succeeded")
        rig.reset_counts()
        _, wall, cpu = timed(lambda: bare_read(rig.graph, rig.pbx, select=select, linked=linked,
                                               width=width, ca_bundle=rig.values["ca_bundle"]))
        bare_counts = rig.counts()
        found["bare"].append(wall)
        found["bare_cpu"].append(cpu)
    rig.latency(pbx_ms=0, graph_ms=0)
    found["ratios"] = sorted(n / b for n, b in zip(found["noop"], found["bare"], strict=True))
    found["ratio"] = statistics.median(found["ratios"])
    found["requests"] = {"noop": _requests(noop_counts), "bare": _requests(bare_counts)}
    return found


def _requests(counts: Any) -> dict[str, int]:
    return {"graph": counts.graph_wire, "pbx": counts.pbx_total,
            "query": counts.pbx_count("GET /openapi/v1.0/extension/query"),
            "list": counts.pbx_count("GET /openapi/v1.0/extension/list"),
            "users": counts.graph_count("GET /v1.0/users")}


def tenant(users: int, widths: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """Cold syncs of one tenant size at each width; the no-op rounds after the default one."""
    found: dict[str, Any] = {"users": users, "cold": {}}
    for width in widths:
        with Rig(users) as rig:
            print(f"cold sync of {users} users at concurrency {width}", file=sys.stderr)
            found["cold"][width] = cold_sync(rig, width, args.pbx_latency_ms,
                                             args.graph_latency_ms)
            if width == DEFAULT_WIDTH:
                found["noop_latency"] = noop_against_bare(
                    rig, width, args.pbx_latency_ms, args.graph_latency_ms, args.rounds)
                found["noop_bare"] = noop_against_bare(rig, width, 0, 0, args.rounds)
    return found


def cost(users: int) -> dict[str, Any]:
    print(f"cost of a sync of {users} users, in a process of its own", file=sys.stderr)
    colds = COLDS if users <= 10_000 else 1  # a single cold sync of a small tenant is noisy
    done = subprocess.run([sys.executable, "-m", "bench.sync_cost", "--users", str(users),
                           "--colds", str(colds)],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    found = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    found["stderr_tail"] = done.stderr[-3000:]  # what the sync logged: a failed run says why
    return found


def numbers(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pbx-latency-ms", type=int, default=50)
    parser.add_argument("--graph-latency-ms", type=int, default=50)
    parser.add_argument("--users", type=numbers, default=[1000, 10_000])
    parser.add_argument("--curve", type=numbers, default=[1, 2, 4, 8, 16])
    parser.add_argument("--cost-users", type=numbers, default=[1000, 10_000, 50_000])
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="no-op and bare read, each")
    parser.add_argument("--no-write", action="store_true", help="print, do not update the doc")
    parser.add_argument("--json", type=Path, help="also keep the raw results in this file")
    parser.add_argument("--render", type=Path, help="render the raw results of an earlier run")
    args = parser.parse_args()
    if args.render:
        return publish(json.loads(args.render.read_text()), write=not args.no_write)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(), "tenants": [], "load": [],
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}

    def load() -> None:  # how busy the machine was, at the start of each part
        results["load"].append(round(os.getloadavg()[0], 2))

    for index, users in enumerate(args.users):
        load()
        widths = args.curve if index == 0 else sorted({DEFAULT_WIDTH, 16})
        results["tenants"].append(tenant(users, widths, args))
    load()
    print(f"contacts of {args.mailboxes} mailboxes", file=sys.stderr)
    results["contacts"] = contacts_read(args.mailboxes, args.graph_latency_ms)
    results["cost"] = []
    for users in args.cost_users:
        load()
        results["cost"].append(cost(users))
    load()
    results["runtime"] = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return publish(results, write=not args.no_write)


def publish(results: dict[str, Any], *, write: bool) -> int:
    body, ok = render(results)
    print(body)
    if write:
        started = results.get("started_at")
        write_section("full_sync", body,
                      started=dt.datetime.fromisoformat(started) if started else None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
