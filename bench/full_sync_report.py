"""The section of docs/benchmarks.md that bench/full_sync.py writes: tables, and the targets
judged on them."""

from __future__ import annotations

from typing import Any

TARGET_USERS = 10_000
COLD_TARGETS = {4: 0.3, 16: 0.1}  # wall time at most this share of the sequential floor
NOOP_TARGETS = {"noop_bare": 1.2, "noop_latency": 1.3}
CONTACTS_TARGET = 0.1
CPU_GROWTH_TARGET = 1.3
RSS_TARGET_MB = 400


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _judge(value: float, limit: float, checks: list[bool], *, below: bool = False,
           unit: str = "x") -> str:
    met = value < limit if below else value <= limit
    checks.append(met)
    return ("met" if met else "**missed**") + f" ({'<' if below else '≤'} {limit:g}{unit})"


def _rounds(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def render(results: dict[str, Any]) -> tuple[str, bool]:
    """The Markdown body, and whether every target was met."""
    args = results["args"]
    pbx_ms, graph_ms = args["pbx_latency_ms"], args["graph_latency_ms"]
    checks: list[bool] = []
    parts = [
        f"Seeded tenants (`python -m sandbox --seed N`, default user-sync settings: all users, "
        f"disabled and deleted accounts not synced), real `redis-server`, a fresh sandbox and "
        f"Redis for every cold sync. Latency through the sandbox's latency fault: every "
        f"request waits {pbx_ms} ms at the PBX simulator and {graph_ms} ms at the Graph "
        f"simulator before it is answered (a `$batch` waits its own latency plus the longest of "
        f"its requests'); both simulators answer requests side by side (a pool of threads, "
        f"connections kept alive), in one process of their own. The whole bench ran "
        f"{results['runtime'] / 60:.0f} minutes; "
        f"the 1-minute load average at the start of each of its parts was "
        f"{', '.join(f'{x:.2f}' for x in results.get('load', []))}.",
        "**Sequential floor** of a sync = its PBX requests (every request the PBX simulator "
        f"counted during that sync, token requests included) x {pbx_ms} ms + its Graph "
        f"requests that crossed the network (`wire`: a `$batch` once, its inner requests not) "
        f"x {graph_ms} ms, from the simulators' counts of that very sync: what it would take if "
        "each request waited for the one before it and nothing else cost time.",
    ]

    cold_rows = []
    for found in results["tenants"]:
        users = found["users"]
        for width, cold in sorted(found["cold"].items(), key=lambda kv: int(kv[0])):
            width = int(width)
            end = cold["end"]
            duplicates = end["duplicate_numbers"] + end["duplicate_emails"] + end["unlinked"]
            ratio = cold["wall"] / cold["floor"]
            failed = cold["counts"]["failed"] + (cold["state"] != "succeeded")
            target = ""
            if users == TARGET_USERS and width in COLD_TARGETS:
                target = _judge(ratio, COLD_TARGETS[width], checks)
                checks += [duplicates == 0 and end["links_astray"] == 0, failed == 0]
            others = cold["others_cpu"]
            cold_rows.append((
                f"{users:,}", width, cold["counts"]["created"], failed,
                f"{duplicates} / {end['links_astray']}", cold["pbx_requests"],
                cold["graph_wire"], f"{cold['floor']:.1f} s", f"{cold['wall']:.1f} s",
                f"**{ratio:.3f}x**", target,
                f"{cold['cpu']:.1f} / {others['simulators']:.1f} / {others['redis']:.1f} s"))
    parts.append(f"### Cold sync at {pbx_ms} ms per PBX request\n\n" + _table(
        ("users", "PBX concurrency", "created", "failed", "duplicates / links astray",
         "PBX requests", "Graph requests (wire)", "sequential floor", "wall time",
         "wall / floor", "target", "CPU: sync / simulators / Redis"), cold_rows)
        + "\n\nEach cold sync runs as the worker runs it, under the fenced sync lock checked "
        "before each PBX write, with `performance.pbx_concurrency` set to the width shown. "
        "Duplicates are read from the PBX simulator after the sync: extensions sharing a "
        "number or an email, plus extensions no link points to; links astray point to no "
        "extension or to one with another number. The CPU columns are the seconds the sync "
        "process, the simulators' process and redis-server used during the sync, on the "
        "machine's 2 cores.")

    curve = results["tenants"][0]
    one = curve["cold"].get(1) or curve["cold"].get("1")
    curve_rows = []
    for width, cold in sorted(curve["cold"].items(), key=lambda kv: int(kv[0])):
        curve_rows.append((width, f"{cold['wall']:.1f} s", f"{cold['wall'] / cold['floor']:.3f}x",
                           f"{one['wall'] / cold['wall']:.1f}x" if one else ""))
    parts.append(f"### Concurrency curve: cold sync of {curve['users']:,} users at {pbx_ms} ms\n\n"
                 + _table(("PBX concurrency", "wall time", "wall / floor",
                           "speed-up over concurrency 1"), curve_rows))

    noop_rows = []
    for found in results["tenants"]:
        users = found["users"]
        for key, label in (("noop_bare", "none"), ("noop_latency", f"{pbx_ms} ms / {graph_ms} ms")):
            noop = found.get(key)
            if noop is None:
                continue
            target = ""
            if users == TARGET_USERS:
                target = _judge(noop["ratio"], NOOP_TARGETS[key], checks)
                checks.append(noop["writes"] == 0 and noop["failed"] == 0)
            req = noop["requests"]
            noop_rows.append((
                f"{users:,}", label, f"{_median(noop['noop']):.2f} s",
                f"{_median(noop['bare']):.2f} s", f"{noop['ratio']:.2f}x ({_rounds(noop['ratios'])})",
                target, noop["writes"],
                f"{req['noop']['graph']} + {req['noop']['pbx']} / {req['bare']['graph']} + "
                f"{req['bare']['pbx']}",
                f"{_median(noop['noop_cpu']):.2f} / {_median(noop['bare_cpu']):.2f} s"))
    parts.append(
        "### No-op re-sync against a bare read of both sides\n\n" + _table(
            ("users", "latency (PBX / Graph)", "no-op re-sync, median", "bare read, median",
             "no-op / bare, median (rounds)", "target", "PBX writes",
             "requests Graph + PBX: no-op / bare", "CPU of the bench process: no-op / bare"),
            noop_rows)
        + f"\n\nThe **bare read** (bench/bare_read.py) sends the requests the no-op re-sync "
        f"sends, with plain `requests`, decoding each answer's JSON and nothing else, the two "
        f"sides side by side as the product reads them: Graph's user pages, deleted-user pages "
        f"and the `$deltatoken=latest` link, each page after the one before, while on a "
        f"second thread the PBX's `extension/list` pages are read in turn and then the linked "
        f"extensions' details, 100 ids an `extension/query`, {4} queries at once (the "
        f"default PBX concurrency, the no-op re-sync's own). No-op and bare read take turns, "
        f"{args['rounds']} rounds each.")

    contacts = results["contacts"]
    batched, single = contacts["batched"], contacts["one_by_one"]
    sequential = contacts["one_batch_at_a_time"]
    contact_rows = [
        (f"batched, {contacts['at_once']} batches at once (the product)",
         f"{batched['wall']:.2f} s", batched["wire"],
         f"{batched['batches']} batches, {batched['inner']} inner requests",
         f"**{contacts['ratio']:.3f}x**", _judge(contacts["ratio"], CONTACTS_TARGET, checks)),
        ("batched, one batch at a time (for comparison)", f"{sequential['wall']:.2f} s",
         sequential["wire"], f"{sequential['batches']} batches",
         f"{contacts['ratio_one_at_a_time']:.3f}x", ""),
        ("one request per mailbox (`GraphClient(batching=False)`)", f"{single['wall']:.2f} s",
         single["wire"], "", "1", "")]
    checks.append(bool(contacts["same_books"]))
    parts.append(
        f"### Personal contacts of {contacts['mailboxes']:,} mailboxes at {contacts['graph_ms']} "
        f"ms per Graph request\n\n" + _table(
            ("read", "wall time", "Graph requests (wire)", "", "/ one request per mailbox",
             "target"), contact_rows)
        + f"\n\nThe contact sync's read (`read_books`: the default Contacts folder of each "
        f"synced user's mailbox, each to its last page) of {contacts['mailboxes']:,} synced "
        f"users, each way in the same run; all found the same {batched['books']} phonebooks "
        f"({'identical' if contacts['same_books'] else '**they differ**'}).")

    cost_rows = []
    costs = results["cost"]
    for found in costs:
        cold, noop = found["cold"], found["noop"]
        created = max(cold["counts"]["created"], 1)
        cost_rows.append((
            f"{found['users']:,}", cold["counts"]["created"], f"{cold['wall_s']:.1f} s",
            f"{cold['cpu_s'] / created * 1000:.2f} ms ({cold.get('gc_s', 0) / created * 1000:.2f})",
            f"{noop['wall_s']:.2f} s",
            f"{noop['cpu_s'] / found['links'] * 1000:.3f} ms "
            f"({noop.get('gc_s', 0) / found['links'] * 1000:.3f})",
            noop["pbx_writes"], f"{noop['peak_rss_mb']:.0f} MB"))
    first, last = costs[0], costs[-1]

    def per_user(found: dict[str, Any], kind: str) -> float:
        count = found["cold"]["counts"]["created"] if kind == "cold" else found["links"]
        return float(found[kind]["cpu_s"]) / max(count, 1)

    growth_cold = per_user(last, "cold") / per_user(first, "cold")
    growth_noop = per_user(last, "noop") / per_user(first, "noop")
    rss = last["noop"]["peak_rss_mb"]
    parts.append(
        "### Cost growth without latency (a sync process per size)\n\n" + _table(
            ("users", "created", "cold sync wall", "cold CPU per user (of it GC)",
             "no-op wall, median", "no-op CPU per user, median (of it GC)", "no-op PBX writes",
             "peak RSS of the sync process"), cost_rows)
        + f"\n\nCPU per user from {first['users']:,} to {last['users']:,} users: cold sync "
        f"x{growth_cold:.2f}, {_judge(growth_cold, CPU_GROWTH_TARGET, checks)}; no-op re-sync "
        f"x{growth_noop:.2f}, {_judge(growth_noop, CPU_GROWTH_TARGET, checks)}. Peak RSS at "
        f"{last['users']:,}: {rss:.0f} MB, "
        f"{_judge(rss, RSS_TARGET_MB, checks, below=True, unit=' MB')}. "
        f"Each size runs in a process of its own (`python -m bench.sync_cost`): "
        f"{_colds(costs)}, then {len(first['noop'].get('cpu_s_all', [0]))} no-op re-syncs "
        f"(the median kept), at the default PBX concurrency; GC is the CPU Python's garbage "
        f"collector took "
        f"in them. The simulators and Redis run in other processes, so the RSS (VmHWM) is the "
        f"sync's; about {first['rss_before_mb']:.0f} MB of it is the interpreter and the "
        f"imports.")
    return "\n\n".join(parts) + "\n", all(checks)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _colds(cost: list[dict[str, Any]]) -> str:
    """How many cold syncs each size had, in words: "3 cold syncs at 1,000 and 10,000 users,
    each on a fresh sandbox, the median kept, and one at 50,000"."""
    by_count: dict[int, list[str]] = {}
    for size in cost:
        by_count.setdefault(len(size["cold"].get("cpu_s_all", [0])), []).append(
            f"{size['users']:,}")
    said = [f"{count} cold syncs at {' and '.join(sizes)} users, each on a fresh sandbox, the "
            f"median kept" if count > 1 else f"one cold sync at {' and '.join(sizes)} users"
            for count, sizes in by_count.items()]
    return "; ".join(said)
