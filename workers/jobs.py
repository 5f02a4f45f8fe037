"""The three kinds of run a worker carries out, shared by the actors and the CLI.

Each takes the one fenced sync lock, so no two runs ever write at once; with it held, runs
that a dead worker left `running` are marked interrupted and the changes they had taken go
back to the pending set. Whether a part may run is asked of `core.engine.rules` only.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core import logs
from core.contacts.sync import ContactSync
from core.engine.engine import Context, Part, Progress, execute
from core.engine.lock import FencedLock
from core.engine.preview import preview_sentences
from core.engine.rules import SYNC_PARTS, Situation, proposed, refusal_of, situation_of
from core.engine.runs import PREVIEW, Run
from core.errors import SyncError
from core.groups.sync import GroupSync, GroupWindDown
from core.presence.subscription import revoke as revoke_presence
from core.subscriptions import delete_all
from core.users.sync import UserSync, UserWindDown
from workers.health import after_failed_run
from workers.runtime import Runtime

log = logging.getLogger("workers")
LOCK_TTL = 30.0  # a killed worker's lock is free again after this long
_PARTS: dict[str, type[Part]] = {"users": UserSync, "groups": GroupSync, "contacts": ContactSync}


class Busy(Exception):
    """Another run holds the sync lock."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def situation(rt: Runtime) -> Situation:
    """What decides whether each part may run, read now."""
    return situation_of(rt.state, connected=rt.connection.credentials(rt.settings) is not None)


@contextmanager
def locked(rt: Runtime, *, keep: str | None = None, wait: float = 30.0) -> Iterator[FencedLock]:
    """Hold the sync lock, after tidying what a dead worker left; raises Busy if taken."""
    lock = FencedLock(rt.redis, rt.state.keys.sync_lock(), ttl=LOCK_TTL)
    with lock.held(wait) as held:
        if not held:
            raise Busy("another sync is running")
        for stale in rt.state.mark_interrupted(now().isoformat(), keep=keep):
            log.warning(f"run {stale} was interrupted by a stopped worker")
        for kind in SYNC_PARTS:  # the kinds of change the debouncer holds
            if rt.debouncer.recover(kind):
                rt.ask_for_changes_run(kind)  # a dead run's changes: synced by a run of their own
        yield lock


def _context(rt: Runtime, lock: FencedLock, document: dict[str, Any], *,
             incremental: bool = False, progress: Progress | None = None) -> Context:
    ctx = Context(graph=None, pbx=rt.pbx(), store=rt.state, document=document, now=now,
                  fence=lock.check, fenced_hset=lock.check_and_hset,
                  incremental=incremental)
    if progress is not None:
        ctx.progress = progress
    return ctx


def _logged(rt: Runtime, run: Run) -> Run:
    """Log how a run ended; a failed one asks for a health check (a permission taken away, the
    PBX refusing: status then says which)."""
    log.info(run.summary, extra={"status": run.state})
    after_failed_run(rt, run)
    return run


def sync(rt: Runtime, run: Run, *, progress: Progress | None = None, wait: float = 30.0) -> Run:
    """A full sync of the parts of `run.scope` that may run now (M1, M3, U10, G5)."""
    token = logs.run_id.set(run.id)
    try:
        with locked(rt, keep=run.id, wait=wait) as lock:
            now_situation = situation(rt)
            if run.trigger == PREVIEW:
                return _preview(rt, run, lock, now_situation)
            parts, refusals = now_situation.runnable(run.scope)
            if not parts:
                return _ended(rt, run, refusal_of(refusals).message)
            ctx = _context(rt, lock, dict(now_situation.document or {}), progress=progress)
            try:
                ctx.graph = rt.graph()
            except SyncError as exc:
                return _ended(rt, run, str(exc))
            return _logged(rt, execute(run, [_PARTS[p]() for p in parts], ctx))
    finally:
        logs.run_id.reset(token)


def _ended(rt: Runtime, run: Run, error: str) -> Run:
    """A run that could not start, ended failed with why."""
    run.start(now())
    rt.state.save_run(run.finish(now(), "failed", error))
    return _logged(rt, run)


def _preview(rt: Runtime, run: Run, lock: FencedLock, now_situation: Situation) -> Run:
    """A dry run of the proposed settings a preview stored, never saved: the rules are asked
    of the situation their save would leave, and the plan's rows become sentences."""
    run.dry_run, run.allow_deletions = True, False  # a preview never writes
    document = rt.state.proposed.get(run.id)
    if document is None:
        return _ended(rt, run, "the proposed settings of this preview are gone: preview again")
    asked = run.parts_asked or list(SYNC_PARTS)
    parts, refusals = proposed(now_situation, document, asked).runnable("all")
    parts = [p for p in parts if p in asked]
    if not parts:
        return _ended(rt, run, refusal_of({p: r for p, r in refusals.items() if p in asked}
                                          or refusals).message)
    ctx = _context(rt, lock, document)
    try:
        ctx.graph = rt.graph()
    except SyncError as exc:
        return _ended(rt, run, str(exc))
    execute(run, [_PARTS[p]() for p in parts], ctx)
    run.preview = preview_sentences(rt.state.objects.rows(run.id), parts,
                                    limit=int(document["safety"]["max_deletions"]))
    if run.objects_truncated:
        run.preview.append(f"Only the first {rt.state.objects.count(run.id)} objects are "
                           "described.")
    rt.state.save_run(run)
    return _logged(rt, run)


def sync_changes(rt: Runtime, kind: str) -> Run | None:
    """An incremental sync for the pending changes of `kind` (M2); None when none are left.

    A user change can change a group's members too, so group sync follows user sync. A run
    that failed gives its changes back, to be taken by the next one.
    """
    with locked(rt) as lock:
        now_situation = situation(rt)
        scope = "contacts" if kind == "contacts" else "all"
        parts, _ = now_situation.runnable(scope)
        if kind != "contacts":
            parts = [p for p in parts if p != "contacts"]
        run = Run.new(parts[0] if len(parts) == 1 else scope, trigger=f"changes:{kind}")
        if not rt.debouncer.take(kind, run.id):
            return None  # an earlier run took them
        if not parts:
            rt.debouncer.done(kind, run.id)  # nothing is on: the changes need no run
            return None
        token = logs.run_id.set(run.id)
        try:
            ctx = _context(rt, lock, dict(now_situation.document or {}),
                           incremental=kind != "contacts")
            ctx.graph = rt.graph()
            execute(run, [_PARTS[p]() for p in parts], ctx)
        except BaseException:
            rt.debouncer.give_back(kind, run.id)
            raise
        finally:
            logs.run_id.reset(token)
        if run.state == "failed":
            rt.debouncer.give_back(kind, run.id)
        else:
            rt.debouncer.done(kind, run.id)
        return _logged(rt, run)


def _still_wanted(action: str, flags: dict[str, Any] | None) -> dict[str, bool]:
    """Which wind-downs still stand once the lock is held: an administrator may have resumed,
    enabled or connected again while the run waited."""
    state = (flags or {}).get("state")
    if action == "pause":
        return {"users": bool((flags or {}).get("users_paused")),
                "groups": bool((flags or {}).get("groups_paused"))}
    stands = state == ("disabled" if action == "disable" else "disconnected")
    return {"users": stands, "groups": stands}


def wind_down(rt: Runtime, run: Run) -> Run:
    """Carry out disable, disconnect or pause (C3, C4, M4, M5); the flag is already set."""
    action, options = str(run.action), run.options
    with locked(rt, keep=run.id) as lock:
        wanted = _still_wanted(action, rt.state.flags())
        errors = []
        connected = rt.connection.credentials(rt.settings) is not None
        if action == "disconnect" and wanted["users"] and connected:  # else done by a first try
            try:
                delete_all(rt.graph(), rt.subscriptions)
            except SyncError as exc:
                errors.append(f"subscriptions could not be deleted at Graph: {exc}")
            revoke_presence(rt.delegated_graph(), rt.subscriptions, rt.presence_authorization)
            # what is not deleted is released: contacts too; before the extensions, so that a
            # run resumed after a crash never finds the connection half forgotten
            for key in rt.state.contact_links():
                rt.state.drop_contact_link(key)
            for key in rt.state.book_links():
                rt.state.drop_book_link(key)
            rt.connection.forget()
        reason = f"integration {action}"
        everything = action == "disconnect"
        parts: list[Part] = []
        if wanted["users"] and (options.get("delete_extensions") or everything):
            parts.append(UserWindDown(delete=bool(options.get("delete_extensions")),
                                      reason=reason))
        if wanted["groups"] and (options.get("delete_groups") or everything):
            parts.append(GroupWindDown(delete=bool(options.get("delete_groups")), reason=reason))
        if not parts:
            run.start(now())
            rt.state.save_run(run.finish(now(), "failed", f"cancelled: the {action} was undone "
                                         "before it could run"))
            return _logged(rt, run)
        run.allow_deletions = True  # the administrator asked for exactly these deletions
        execute(run, parts, _context(rt, lock, rt.state.settings()))
        deleted, released = run.counts.get("deleted", 0), run.counts.get("released", 0)
        if errors:
            run.error = "; ".join(errors)
            run.state = "partial" if run.state == "succeeded" else run.state
        run.summary = (f"Integration {action}: {deleted} extensions and extension groups "
                       f"deleted, {released} released" + (f"; {run.error}" if run.error else "")
                       + ".")
        rt.state.save_run(run)
        return _logged(rt, run)
