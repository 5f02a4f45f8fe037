"""The run skeleton every part shares: read → plan → guard → (dry run) → apply → record.

A part says how to read, plan and apply; the engine does the rest, once:
- a read that fails in any way ends the part `failed` before anything is written
  (SPEC "Always": a sync whose reads failed changes nothing it could not see);
- the deletion guard holds deletions past `safety.max_deletions` (`blocked`);
- a dry run stops after planning, with the planned counts;
- the fenced lock is checked before the first write, and by apply before each one: a run
  that lost its lock stops and ends `failed`;
- a part whose writes partly failed ends `partial`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.engine.collector import fewer_collections
from core.engine.guard import hold_deletions
from core.engine.lock import LockLost
from core.engine.outcome import Outcome, subject
from core.engine.rows import object_rows
from core.engine.runs import PartResult, Run, planned_counts
from core.errors import SyncError

Progress = Callable[[str, int, int], None]
log = logging.getLogger("engine")


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


def _no_fence() -> None:
    return None


@dataclass
class Context:
    """What a part may use during one run."""

    graph: Any
    pbx: Any
    store: Any
    document: Mapping[str, Any]  # the settings document
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    fence: Callable[[], None] = _no_fence  # raises LockLost when the run lost its lock
    # `fence`, and in the same round trip one hash field set (key, field, value) only while
    # the lock is held; None when the run holds no lock
    fenced_hset: Callable[[str, str, str], None] | None = None
    progress: Progress = _no_progress
    incremental: bool = False


class Part(Protocol):
    """One part of the sync (users, groups, contacts, or a wind-down of them)."""

    name: str
    kinds: Mapping[type, str]  # operation type → the count it adds to (created, …)
    deletions: Mapping[type, str]  # operation type → what it deletes (extension, …)

    def read(self, ctx: Context) -> Any: ...
    def plan(self, snapshot: Any, ctx: Context) -> Sequence[Any]: ...
    def apply(self, ops: Sequence[Any], ctx: Context) -> Outcome: ...
    def finish(self, snapshot: Any, outcome: Outcome, held: bool, ctx: Context) -> int: ...


def execute(run: Run, parts: Sequence[Part], ctx: Context) -> Run:
    """Run `parts` in order under one run record, saved as it goes; returns it finished."""
    with fewer_collections():  # a run's records live until it ends (core/engine/collector.py)
        return _execute(run, parts, ctx)


def _execute(run: Run, parts: Sequence[Part], ctx: Context) -> Run:
    store = ctx.store
    run.start(ctx.now())
    store.objects.clear(run.id)  # a resumed run lists its objects again
    store.save_run(run)
    ctx.progress = _recorded(run, store, ctx.progress)
    for part in parts:
        rows: list[dict[str, Any]] = []
        try:
            result = run_part(part, ctx, dry_run=run.dry_run,
                              allow_deletions=run.allow_deletions, objects=rows)
        except LockLost as exc:
            run.add(PartResult(part.name, "failed", error=str(exc)).close(run.dry_run))
            break
        except Exception as exc:
            lost = _lock_lost(ctx)  # Redis restarted or emptied mid-run takes the lock too
            if lost is not None:
                log.warning(f"{part.name} part of run {run.id} stopped by "
                            f"{type(exc).__name__}: {exc}; {lost}")
                run.add(PartResult(part.name, "failed", error=str(lost)).close(run.dry_run))
                break
            # a defect: the part ends failed, the run is not left running
            log.exception(f"{part.name} part of run {run.id} stopped by an unexpected error")
            result = PartResult(part.name, "failed",
                                error=f"unexpected error ({type(exc).__name__}); see the logs")
            result.close(run.dry_run)
        run.add(result)
        kept = store.objects.add(run.id, rows)
        run.objects_total += len(rows)
        run.objects_truncated = run.objects_truncated or kept < len(rows)
        store.save_run(run)
    run.finish(ctx.now())
    store.save_run(run)
    return run


def _lock_lost(ctx: Context) -> LockLost | None:
    """The run's lock found lost, asked after an error: the error's cause, when it is."""
    try:
        ctx.fence()
    except LockLost as lost:
        return lost
    except Exception:  # the check itself failed: the error stays unexplained
        return None
    return None


def _recorded(run: Run, store: Any, inner: Progress) -> Progress:
    """Progress also kept on the run record, saved at most once a second (the console shows it)."""
    saved = [0.0]

    def progress(phase: str, done: int, total: int) -> None:
        inner(phase, done, total)
        run.progress = {"phase": phase, "done": done, "total": total}
        if time.monotonic() - saved[0] >= 1.0 or done == total:
            saved[0] = time.monotonic()
            store.save_run(run)

    return progress


def run_part(part: Part, ctx: Context, *, dry_run: bool, allow_deletions: bool,
             objects: list[dict[str, Any]] | None = None) -> PartResult:
    """One part: read, plan, guard, then apply (or only count, for a dry run); the result of
    each planned operation is added to `objects` (core/engine/rows.py)."""
    objects = [] if objects is None else objects
    result = PartResult(part.name)
    try:
        ctx.progress(f"reading for {part.name}", 0, 0)
        snapshot = part.read(ctx)
    except SyncError as exc:
        result.state, result.error = "failed", f"a read failed, nothing was changed: {exc}"
        result.retry_after = getattr(exc, "retry_after", None)
        return result.close(dry_run)
    result.mode = getattr(snapshot, "mode", None)
    ops = part.plan(snapshot, ctx)
    limit = int(ctx.document["safety"]["max_deletions"])
    guarded = hold_deletions(ops, lambda op: part.deletions.get(type(op)), limit=limit,
                             allow=allow_deletions)
    result.held_deletions = guarded.held_rows(lambda op: part.deletions.get(type(op)))
    if dry_run:  # what a real run would do now: held deletions and what waits for them aside
        result.counts = planned_counts(part.kinds.get(type(op)) for op in guarded.to_apply)
        result.skipped = [subject(op) | {"reason": op.reason} for op in guarded.to_apply
                          if part.kinds.get(type(op)) == "skipped"] + guarded.waiting_rows()
        result.counts["skipped"] += len(guarded.waiting)
        result.state = "blocked" if guarded.held else "succeeded"
        objects += object_rows(part, guarded, limit=limit)
        return result.close(dry_run)
    ctx.fence()
    outcome = part.apply(guarded.to_apply, ctx)
    outcome.wait(guarded.waiting_rows())
    result.synced = part.finish(snapshot, outcome, bool(guarded.held), ctx)  # may add rows
    objects += object_rows(part, guarded, limit=limit, outcome=outcome)
    result.counts |= {name: outcome.counts.get(name, 0) for name in result.counts}
    if outcome.counts.get("welcome_emails"):
        result.counts["welcome_emails"] = outcome.counts["welcome_emails"]
    result.failures, result.skipped = outcome.failures, outcome.skipped
    result.pbx_concurrency = outcome.concurrency
    result.state = ("blocked" if guarded.held else
                    "partial" if outcome.counts.get("failed") else "succeeded")
    return result.close(dry_run)


def run_here(parts: Sequence[Part], *, graph: Any, pbx: Any, store: Any, run: Run | None = None,
             dry_run: bool = False, allow_deletions: bool = False, incremental: bool = False,
             now: Callable[[], dt.datetime] | None = None) -> dict[str, Any]:
    """Run `parts` in this process, without the lock or the rules: for tests and benchmarks."""
    run = run or Run.new(parts[0].name if len(parts) == 1 else "all", dry_run=dry_run,
                         allow_deletions=allow_deletions)
    ctx = Context(graph=graph, pbx=pbx, store=store, document=store.settings(),
                  incremental=incremental)
    if now is not None:
        ctx.now = now
    return execute(run, parts, ctx).to_dict()
