"""`apply(ops, pbx, book)`: the only code that writes to the PBX.

Operations run in a safe order: releases and deletions first (they free numbers and emails),
then updates, adoptions and creations; the operations of one kind run side by side, up to
`performance.pbx_concurrency` at once. Each link is written as soon as its PBX write
succeeds, and a create is marked pending before it is sent, so a run that dies half way
leaves nothing the next run cannot recognise. One object's failure is recorded and the rest
carry on; an unreachable PBX stops the run, with what was not attempted listed. Once the PBX
says it is full, creates not yet sent are skipped; those already in flight are recorded as the
PBX answers them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from core.engine.outcome import Outcome
from core.errors import (
    AuthError,
    PbxDuplicateError,
    PbxError,
    PbxLimitError,
    PbxNotFoundError,
    SyncError,
    TransportError,
)
from core.pbx.client import PbxClient
from core.pbx.concurrency import DEFAULT_WIDTH, AdaptiveLimit, in_phases, run_bounded
from core.pbx.password import generate_password
from core.users.placement import ORGANIZATION_NEEDED, Placement, needs_organization
from core.users.records import Adopt, Create, Delete, Link, Operation, Release, Skip, Update

CAPACITY_REASON = "the PBX has no free extension capacity"
WELCOME_BATCH = 100
_ORDER = {Release: 0, Delete: 1, Update: 2, Adopt: 3, Create: 4, Skip: 5}
log = logging.getLogger("pbx")


class LinkBook(Protocol):
    def put_link(self, link: Link) -> None: ...
    def put_links(self, links: Iterable[Link]) -> None: ...
    def drop_link(self, user_id: str) -> None: ...
    def mark_pending(self, user_id: str, number: str) -> None: ...
    def clear_pending(self, user_id: str) -> None: ...
    def mark_released(self, link: Link, reason: str, at: str) -> None: ...


def ordered(ops: Iterable[Operation]) -> list[Operation]:
    return sorted(ops, key=lambda op: _ORDER[type(op)])


def apply(ops: Iterable[Operation], pbx: PbxClient, book: LinkBook, *, now: str,
          send_welcome_email: bool = False,
          before: Callable[[Operation], None] | None = None,
          mark_pending: Callable[[str, str], None] | None = None,
          width: int = DEFAULT_WIDTH) -> Outcome:
    """Carry out `ops` on the PBX, up to `width` requests at once; returns counts, failures
    and skips.

    The kinds run one after another (releases, deletions, updates, adoptions, creations), the
    operations of one kind side by side: whatever an operation waits for is done, and its
    outcome known, before it starts. `before(op)` runs before each operation, one at a time.
    `mark_pending(user_id, number)` marks a create as started before it is sent (default: the
    link book's mark).
    """
    outcome = Outcome()
    limit = AdaptiveLimit(width)
    run = _Run(pbx, book, now, before, mark_pending or book.mark_pending)
    for phase in in_phases(ordered(ops), lambda op: _ORDER[type(op)]):
        # The first create goes alone: a refusal the PBX gives every create (no capacity
        # left, no organization) is learnt from one request, not from `width` of them.
        lead = 1 if isinstance(phase[0], Create) else 0
        for batch in (phase[:lead], phase[lead:]):
            for done in run_bounded(batch, run.one, limit):
                outcome.merge(done)
    if outcome.unresolved:
        _resolve_created(pbx, book, outcome)
    if send_welcome_email and outcome.created_ids and run.stopped is None:
        _welcome(pbx, outcome)
    outcome.concurrency = limit.record()
    log.info("users: applied at PBX concurrency %s", outcome.concurrency)
    return outcome


class _Run:
    """What the operations of one apply share across threads, behind one lock: the PBX
    stopped answering, it is full, it needs an organization, a deletion failed."""

    def __init__(self, pbx: PbxClient, book: LinkBook, now: str,
                 before: Callable[[Operation], None] | None,
                 mark_pending: Callable[[str, str], None]) -> None:
        self.pbx, self.book, self.now, self.before = pbx, book, now, before
        self.mark_pending = mark_pending
        self.lock = threading.Lock()
        self.stopped: SyncError | None = None
        self.full = False
        self.undeleted: dict[int | str, str] = {}  # extension ids and user ids whose deletion failed
        self.placement = Placement(pbx)

    def one(self, op: Operation) -> Outcome:
        """Apply `op`; its outcome alone, merged by the caller in plan order."""
        outcome = Outcome()
        with self.lock:
            if self.before:
                self.before(op)  # may raise LockLost: the run stops before this write
            stopped, full, needed = self.stopped, self.full, self.placement.needed
            waits_for = _failed_deletion(op, self.undeleted)
        if stopped is not None and not isinstance(op, Skip):
            outcome.fail(op, f"not attempted: {stopped}")
        elif isinstance(op, Create) and full:
            outcome.skip(op, CAPACITY_REASON)
        elif isinstance(op, Create) and needed:
            outcome.fail(op, ORGANIZATION_NEEDED)  # the PBX said so for an earlier one
        elif waits_for:
            outcome.fail(op, f"not attempted: deleting extension {waits_for}, which it waits "
                         "for, failed")
        else:
            self._attempt(op, outcome)
        return outcome

    def _attempt(self, op: Operation, outcome: Outcome) -> None:
        try:
            _one(op, self.pbx, self.book, outcome, self.now, self.placement, self.mark_pending)
        except PbxError as exc:
            if isinstance(op, Create):
                self.book.clear_pending(op.user_id)  # refused: nothing was created
                with self.lock:
                    self.full = self.full or isinstance(exc, PbxLimitError)
                    self.placement.needed = self.placement.needed or needs_organization(exc)
            _refused(op, outcome, exc)
        except (AuthError, TransportError) as exc:
            with self.lock:
                self.stopped = self.stopped or exc
            outcome.fail(op, str(exc))
        except SyncError as exc:
            outcome.fail(op, str(exc))
        if isinstance(op, Delete) and outcome.counts["failed"]:
            with self.lock:
                self.undeleted[op.ext_id] = self.undeleted[op.user_id] = op.number


def _failed_deletion(op: Operation, undeleted: dict[int | str, str]) -> str | None:
    """The number of a failed deletion that `op` waits for: the one that frees its number,
    or, for a re-created extension, its user's old one (else the user would have two)."""
    if not isinstance(op, Create | Update | Adopt):
        return None
    if op.after_delete is not None and op.after_delete in undeleted:
        return undeleted[op.after_delete]
    return undeleted.get(op.user_id) if isinstance(op, Create) else None


def _refused(op: Operation, outcome: Outcome, exc: PbxError) -> None:
    """Record an operation the PBX answered with an error code."""
    if isinstance(exc, PbxLimitError) and isinstance(op, Create):
        outcome.skip(op, CAPACITY_REASON)
    elif needs_organization(exc):
        outcome.fail(op, ORGANIZATION_NEEDED)
    elif isinstance(exc, PbxDuplicateError):
        clashes = ", ".join(f"{f.get('field')} {f.get('value')} is used by "
                            f"{f.get('external_source', 'object')} "
                            f"{f.get('external_source_name', '')}".strip()
                            for f in exc.fields) or exc.errmsg
        outcome.fail(op, clashes)
    else:
        outcome.fail(op, str(exc))


def _one(op: Operation, pbx: PbxClient, book: LinkBook, outcome: Outcome, now: str,
         placement: Placement, mark_pending: Callable[[str, str], None]) -> None:
    if isinstance(op, Release):
        book.drop_link(op.user_id)
        book.mark_released(Link(op.user_id, op.ext_id, op.number, op.label), op.reason, now)
        outcome.counts["released"] += 1
    elif isinstance(op, Delete):
        with contextlib.suppress(PbxNotFoundError):  # already gone: the goal is reached
            pbx.delete_extension(op.ext_id)
        book.drop_link(op.user_id)
        outcome.counts["deleted"] += 1
    elif isinstance(op, Update):
        pbx.update_extension(op.ext_id, dict(op.changes))
        book.put_link(Link(op.user_id, op.ext_id, op.number, op.label))
        outcome.counts["updated"] += 1
    elif isinstance(op, Adopt):
        if op.changes:
            pbx.update_extension(op.ext_id, dict(op.changes))
        if op.replaces_user:
            book.drop_link(op.replaces_user)
        book.put_link(Link(op.user_id, op.ext_id, op.number, op.label))  # clears its pending mark
        outcome.counts["linked"] += 1
    elif isinstance(op, Create):
        fields = new_extension_fields(op) | placement.fields(op)
        mark_pending(op.user_id, op.number)
        ext_id = pbx.create_extension(fields, resolve_id=False)
        outcome.counts["created"] += 1
        if ext_id is None:
            outcome.unresolved.append(op)
        else:
            _link_created(book, outcome, op, ext_id)
    else:
        outcome.skip(op, op.reason)


def _link_created(book: LinkBook, outcome: Outcome, op: Create, ext_id: int) -> None:
    book.put_link(Link(op.user_id, ext_id, op.number, op.label))  # clears its pending mark
    outcome.created_ids.append(ext_id)


def _resolve_created(pbx: PbxClient, book: LinkBook, outcome: Outcome) -> None:
    """Link the extensions created without an id, from one listing of the PBX.

    Should the listing fail, their pending marks stay, and the next run adopts them.
    """
    try:
        ids = pbx.extension_ids_by_number()
    except SyncError as exc:
        for op in outcome.unresolved:
            outcome.fail(op, f"created, but not linked yet (the next run links it): {exc}")
        return
    found = [op for op in outcome.unresolved if op.number in ids]
    book.put_links(Link(op.user_id, ids[op.number], op.number, op.label) for op in found)
    outcome.created_ids.extend(ids[op.number] for op in found)
    for op in outcome.unresolved:
        if op.number not in ids:
            outcome.fail(op, f"created, but extension {op.number} is not on the PBX")


def new_extension_fields(op: Create) -> dict[str, Any]:
    """What `extension/create` needs: the owned fields plus safely generated credentials."""
    owned = {k: v for k, v in op.owned.as_dict().items() if v}
    return owned | {"number": op.number, "reg_name": op.number,
                    "user_password": generate_password(number=op.number, names=(
                        op.owned.first_name, op.owned.last_name)),
                    "reg_password": generate_password(), "concurrent_registrations": 1,
                    "presence_status": "available"}


def _welcome(pbx: PbxClient, outcome: Outcome) -> None:
    ids = outcome.created_ids
    for start in range(0, len(ids), WELCOME_BATCH):
        try:
            pbx.send_welcome_email(ids[start : start + WELCOME_BATCH])
            outcome.counts["welcome_emails"] += len(ids[start : start + WELCOME_BATCH])
        except SyncError as exc:
            outcome.failures.append({"user_id": "", "name": "welcome email",
                                     "operation": "welcome_email", "reason": str(exc)})
            outcome.counts["failed"] += 1


