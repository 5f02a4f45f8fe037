"""A group sync run (G1-G5): fetch → plan → check → apply → record.

Groups are few next to users, so every run reads them whole: the groups, the users of each
group in range (through nested groups), and the PBX's extension groups and extensions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from core.engine import runs
from core.errors import SyncError
from core.graph.client import GraphClient
from core.graph.records import EntraGroup
from core.groups.apply import apply_groups
from core.groups.plan import desired_groups, in_range, plan_groups
from core.groups.records import CreateGroup, DeleteGroup, ReleaseGroup, SkipGroup, UpdateGroup
from core.pbx.client import PbxClient
from core.store.redis import StateStore

_PLANNED = {CreateGroup: "created", UpdateGroup: "updated", DeleteGroup: "deleted",
            ReleaseGroup: "released", SkipGroup: "skipped"}


def read_groups(graph: GraphClient,
                rules: dict[str, Any]) -> tuple[list[EntraGroup], dict[str, list[str]]]:
    """Every group, and the users (direct and nested) of those in range."""
    groups = list(graph.groups())
    members = {g.id: list(graph.group_user_ids(g.id, transitive=True))
               for g in groups if in_range(g, rules)}
    return groups, members


def sync_groups(*, graph: GraphClient, pbx: PbxClient, state: StateStore, run: dict[str, Any],
                allow_deletions: bool = False,
                now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> dict[str, Any]:
    """Run one group sync and return its record (also saved in `state`)."""
    settings = state.settings()
    rules, safety = settings["groups"], settings["safety"]
    runs.start(state, run, now)
    try:
        groups, members = read_groups(graph, rules)
        pbx_groups = {g.id: g for g in pbx.extension_groups()}
        ext_ids = frozenset(e.id for e in pbx.extensions())
    except SyncError as exc:
        run["retry_after"] = getattr(exc, "retry_after", None)
        return runs.finish(state, run, now, "failed",
                           error=f"a read failed, nothing was changed: {exc}")
    wanted = desired_groups(groups, members, rules)
    ops = plan_groups(wanted, pbx_groups, state.group_links(), state.user_links(),
                      existing_ext_ids=ext_ids, auto_delete=bool(rules["auto_delete_out_of_range"]))
    deletes = [op for op in ops if isinstance(op, DeleteGroup)]
    held: list[DeleteGroup] = []
    if len(deletes) > int(safety["max_deletions"]) and not allow_deletions:
        held = deletes
        ops = tuple(op for op in ops if not isinstance(op, DeleteGroup))
    run["held_deletions"] = [{"group_id": d.group_id, "name": d.name, "reason": d.reason}
                             for d in held]
    if run["dry_run"]:
        run["counts"] |= runs.planned_counts(ops, _PLANNED)
        run["skipped"] = [{"group_id": o.group_id, "name": o.name, "reason": o.reason}
                          for o in ops if isinstance(o, SkipGroup)]
        return runs.finish(state, run, now, "succeeded")
    runs.record(run, apply_groups(ops, pbx, state))
    synced = state.group_links()
    run["synced"] = sum(1 for w in wanted if w.group_id in synced)
    return runs.finish(state, run, now, "blocked" if held else "succeeded")
