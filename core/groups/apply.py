"""`apply_groups`: the only code that writes extension groups to the PBX."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from core.engine.outcome import Outcome
from core.errors import (
    PbxLimitError,
    PbxNotFoundError,
    SyncError,
)
from core.groups.records import (
    CreateGroup,
    DeleteGroup,
    GroupLink,
    GroupOperation,
    ReleaseGroup,
    SkipGroup,
    UpdateGroup,
)
from core.pbx.client import PbxClient
from core.pbx.concurrency import DEFAULT_WIDTH, AdaptiveLimit, in_phases, run_bounded

log = logging.getLogger("pbx")


class LinkBook(Protocol):
    def put_group_link(self, link: GroupLink) -> None: ...
    def drop_group_link(self, group_id: str) -> None: ...

_GROUP_ORDER = {ReleaseGroup: 0, DeleteGroup: 1, UpdateGroup: 2, CreateGroup: 3, SkipGroup: 4}


def apply_groups(ops: Iterable[GroupOperation], pbx: PbxClient, book: LinkBook, *,
                 before: Callable[[GroupOperation], None] | None = None,
                 width: int = DEFAULT_WIDTH) -> Outcome:
    """Carry out extension-group operations, up to `width` at once; one group's failure does
    not stop the others. Each kind (releases, deletions, updates, creations) is done before
    the next starts: a deleted group's name is free before a create takes it."""
    outcome = Outcome()
    limit = AdaptiveLimit(width)
    lock = threading.Lock()

    def one(op: GroupOperation) -> Outcome:
        done = Outcome()
        with lock:
            if before:
                before(op)  # may raise LockLost: the run stops before this write
        try:
            _one_group(op, pbx, book, done)
        except PbxLimitError:
            done.skip(op, "the PBX holds no more extension groups")
        except SyncError as exc:
            done.fail(op, str(exc))
        return done

    ordered = sorted(ops, key=lambda o: _GROUP_ORDER[type(o)])
    for phase in in_phases(ordered, lambda o: _GROUP_ORDER[type(o)]):
        for done in run_bounded(phase, one, limit):
            outcome.merge(done)
    outcome.concurrency = limit.record()
    log.info("groups: applied at PBX concurrency %s", outcome.concurrency)
    return outcome


def _one_group(op: GroupOperation, pbx: PbxClient, book: LinkBook, outcome: Outcome) -> None:
    if isinstance(op, ReleaseGroup):
        book.drop_group_link(op.group_id)
        outcome.counts["released"] += 1
    elif isinstance(op, DeleteGroup):
        with contextlib.suppress(PbxNotFoundError):
            pbx.delete_extension_group(op.pbx_group_id)
        book.drop_group_link(op.group_id)
        outcome.counts["deleted"] += 1
    elif isinstance(op, UpdateGroup):
        pbx.update_extension_group(op.pbx_group_id, name=op.new_name,
                                   member_ids=None if op.member_ext_ids is None
                                   else list(op.member_ext_ids))
        book.put_group_link(GroupLink(op.group_id, op.pbx_group_id, op.name))
        outcome.counts["updated"] += 1
    elif isinstance(op, CreateGroup):
        pbx_id = pbx.create_extension_group(op.name, list(op.member_ext_ids))
        book.put_group_link(GroupLink(op.group_id, pbx_id, op.name))
        outcome.counts["created"] += 1
    else:
        outcome.skip(op, op.reason)
