"""A user sync run: fetch → plan → check → apply → record.

A read that fails in any way ends the run `failed` before anything is written; more planned
deletions than `safety.max_deletions` end it `blocked`, with the rest applied and the
deletions listed; a dry run stops after planning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from core.engine import runs
from core.errors import DeltaExpiredError, SyncError
from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.store.redis import StateStore
from core.users.apply import apply
from core.users.directory import Directory, directory_from_delta, read_directory, user_select
from core.users.plan import desired_state, hold_deletions, plan
from core.users.records import Adopt, Create, Delete, Operation, PbxView, Release, Skip, Update

_PLANNED = {Create: "created", Update: "updated", Delete: "deleted", Release: "released",
            Adopt: "linked", Skip: "skipped"}


def read_pbx(pbx: PbxClient, linked_ids: Iterable[int], emails: set[str]) -> PbxView:
    """Every extension; full detail for those linked or whose email a user has."""
    basic = {e.id: e for e in pbx.extensions()}
    wanted = sorted({i for i in linked_ids if i in basic}
                    | {e.id for e in basic.values() if e.email_addr.lower() in emails})
    detailed = {e.id: e for e in pbx.extension_details(wanted)}
    return PbxView({i: detailed.get(i, e) for i, e in basic.items()})


def sync_users(*, graph: GraphClient, pbx: PbxClient, state: StateStore, run: dict[str, Any],
               allow_deletions: bool = False, incremental: bool = False,
               now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
               progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run one user sync and return its record (also saved in `state`).

    A full run reads the whole directory. An incremental run (after change notifications)
    reads the users delta since the last run and plans for those users only; it falls back
    to a full read when there is no delta link for the current rules, when the link has
    expired, or when the range is a set of groups (membership is not in the users delta).
    """
    settings = state.settings()
    rules, safety = settings["users"], settings["safety"]
    runs.start(state, run, now)
    note = progress or (lambda _phase, _done, _total: None)
    try:
        note("reading Entra ID", 0, 0)
        directory, scope, next_link = _read_directory(graph, state, rules, incremental)
        run["mode"] = "full" if scope is None else "incremental"
        desired = desired_state(directory, rules)
        links = state.user_links()
        emails = {w.owned.email_addr.lower() for w in desired.wanted if w.owned.email_addr}
        note("reading the PBX", 0, 0)
        view = read_pbx(pbx, (link.ext_id for link in links.values()), emails)
    except SyncError as exc:
        run["retry_after"] = getattr(exc, "retry_after", None)
        return runs.finish(state, run, now, "failed", error=f"a read failed, nothing was changed: "
                       f"{exc}")
    ops = plan(desired, view, links, pending=state.pending_creates(), scope=scope)
    to_apply, held = hold_deletions(ops, int(safety["max_deletions"]), allow_deletions)
    run["held_deletions"] = [{"user_id": d.user_id, "name": d.label, "number": d.number,
                              "reason": d.reason} for d in held]
    if run["dry_run"]:
        run["counts"] |= runs.planned_counts(ops, _PLANNED)
        run["skipped"] = [{"user_id": o.user_id, "name": o.label, "reason": o.reason}
                          for o in ops if isinstance(o, Skip)]
        return runs.finish(state, run, now, "succeeded")
    total = sum(1 for op in to_apply if not isinstance(op, Skip))
    done = Counter[str]()

    def step(op: Operation) -> None:
        if not isinstance(op, Skip):
            done["ops"] += 1
            note("writing to the PBX", done["ops"], total)

    outcome = apply(to_apply, pbx, state, now=now().isoformat(),
                    send_welcome_email=bool(rules["send_welcome_email"]), progress=step)
    runs.record(run, outcome)
    if not held and not outcome.counts.get("failed"):
        state.set_delta_link(delta_name(rules), next_link)  # else the changes are read again
    synced = state.user_links()
    run["synced"] = (sum(1 for w in desired.wanted if w.user_id in synced) if scope is None
                     else len(synced))
    return runs.finish(state, run, now, "blocked" if held else "succeeded")


def delta_name(rules: Mapping[str, Any]) -> str:
    """Delta links are kept per set of rules: changed rules mean a full read."""
    fingerprint = hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()[:16]
    return f"users:{fingerprint}"


def _read_directory(graph: GraphClient, state: StateStore, rules: Mapping[str, Any],
                    incremental: bool) -> tuple[Directory, frozenset[str] | None, str]:
    """(directory, scope, next delta link); scope None means a full read."""
    select = user_select(rules)
    link = state.delta_link(delta_name(rules))
    if incremental and link and rules["range"] != "groups":
        try:
            changes = graph.users_delta(link, select=select)
        except DeltaExpiredError:
            state.drop_delta_link(delta_name(rules))
        else:
            directory = directory_from_delta(changes, rules)
            scope = frozenset(directory.users) | {r.id for r in changes.removed}
            return directory, scope, changes.delta_link
    latest = graph.users_delta_latest(select=select)  # taken first: later changes replay
    return read_directory(graph, rules), None, latest
