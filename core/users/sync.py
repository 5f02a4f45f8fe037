"""User sync (U1-U10) as a part of the engine: read the directory and the PBX, plan, apply.

A full run reads the whole directory. An incremental run (after change notifications)
reads the users delta since the last run and plans for those users only; it falls back
to a full read when there is no delta link for the current rules, when the link has
expired, or when the range is a set of groups (membership is not in the users delta).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from core.engine.engine import Context
from core.engine.outcome import Outcome
from core.errors import DeltaExpiredError
from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.pbx.concurrency import DEFAULT_WIDTH, AdaptiveLimit
from core.pbx.records import Extension
from core.store.redis import StateStore
from core.sync_settings import pbx_concurrency
from core.users.apply import apply
from core.users.directory import Directory, directory_from_delta, read_directory, user_select
from core.users.plan import desired_state, plan
from core.users.records import (
    Adopt,
    Create,
    Delete,
    Desired,
    Link,
    Operation,
    PbxView,
    Release,
    Skip,
    Update,
)

KINDS = {Create: "created", Update: "updated", Delete: "deleted", Release: "released",
         Adopt: "linked", Skip: "skipped"}
DELETIONS = {Delete: "extension"}
log = logging.getLogger("pbx")


def read_pbx(pbx: PbxClient, linked_ids: Iterable[int], emails: set[str], *,
             width: int = DEFAULT_WIDTH) -> PbxView:
    """Every extension; full detail for those linked or whose email a user has, read up to
    `width` calls of 100 at once."""
    limit = AdaptiveLimit(width)
    listed = list(pbx.extensions())
    return complete_view(pbx, listed, read_linked(pbx, listed, linked_ids, limit=limit),
                         emails, limit=limit)


def read_linked(pbx: PbxClient, listed: list[Extension], linked_ids: Iterable[int], *,
                limit: AdaptiveLimit) -> dict[int, Extension]:
    """The full detail of the linked extensions still on the PBX (among `listed`): what the
    directory is not needed for."""
    present = {e.id for e in listed}
    wanted = sorted({i for i in linked_ids if i in present})
    return {e.id: e for e in pbx.extension_details(wanted, limit=limit)}


def complete_view(pbx: PbxClient, listed: list[Extension], detailed: dict[int, Extension],
                  emails: set[str], *, limit: AdaptiveLimit) -> PbxView:
    """The PBX as a plan sees it: `listed`, in full detail where linked (`detailed`) or
    where a user has the extension's email (read now, when not read already)."""
    more = sorted({e.id for e in listed if e.id not in detailed
                   and e.email_addr.lower() in emails})
    detailed = detailed | {e.id: e for e in pbx.extension_details(more, limit=limit)}
    if detailed:
        log.info("users: read extension details at PBX concurrency %s", limit.record())
    return PbxView({e.id: detailed.get(e.id, e) for e in listed})


@dataclass(frozen=True)
class Snapshot:
    """What a user sync read: the desired state, the PBX, the links, and the delta to keep."""

    desired: Desired
    view: PbxView
    links: Mapping[str, Link]
    scope: frozenset[str] | None
    next_link: str

    @property
    def mode(self) -> str:
        return "full" if self.scope is None else "incremental"


class UserSync:
    """Users → extensions."""

    name, kinds, deletions = "users", KINDS, DELETIONS

    def read(self, ctx: Context) -> Snapshot:
        rules = ctx.document["users"]
        limit = AdaptiveLimit(pbx_concurrency(ctx.document))
        directory_failed = threading.Event()

        def linked() -> dict[int, Extension]:
            ids = [link.ext_id for link in stored.result().values()]
            listed = listing.result()
            if directory_failed.is_set():  # the run fails anyway: no details read for nothing
                return {}
            return read_linked(ctx.pbx, listed, ids, limit=limit)

        # the two sides are read side by side: the PBX's extensions are listed while the links
        # are loaded, and the linked ones read in full, while the directory is read and the
        # desired state worked out
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="pbx-read") as pool:
            listing = pool.submit(contextvars.copy_context().run,
                                  lambda: list(ctx.pbx.extensions()))
            stored = pool.submit(contextvars.copy_context().run, ctx.store.user_links)
            # on the first thread free, once both are in
            pbx_side = pool.submit(contextvars.copy_context().run, linked)
            try:
                directory, scope, next_link = _read_directory(ctx.graph, ctx.store, rules,
                                                              ctx.incremental)
            except BaseException:
                directory_failed.set()
                raise
            desired = desired_state(directory, rules)
            emails = {w.owned.email_addr.lower() for w in desired.wanted if w.owned.email_addr}
            ctx.progress("reading the PBX", 0, 0)
            links, listed, detailed = stored.result(), listing.result(), pbx_side.result()
        view = complete_view(ctx.pbx, listed, detailed, emails, limit=limit)
        return Snapshot(desired, view, links, scope, next_link)

    def plan(self, snapshot: Snapshot, ctx: Context) -> tuple[Operation, ...]:
        self.pending = ctx.store.pending_creates()  # kept to explain adoptions
        return plan(snapshot.desired, snapshot.view, snapshot.links,
                    pending=self.pending, scope=snapshot.scope)

    def explain(self, op: Operation) -> str | None:
        """Why an extension is adopted, for the run's per-object results."""
        if not isinstance(op, Adopt):
            return None
        if op.replaces_user:
            return "matched by email: it was synced for a deleted account with that email"
        if getattr(self, "pending", {}).get(op.user_id) == op.number:
            return "created by an earlier run that stopped before linking it"
        return "matched by email"

    def apply(self, ops: Sequence[Operation], ctx: Context) -> Outcome:
        total = sum(1 for op in ops if not isinstance(op, Skip))
        done = [0]

        fenced_hset = ctx.fenced_hset

        def before(op: Operation) -> None:
            if not isinstance(op, Skip):
                if fenced_hset is None or not isinstance(op, Create):
                    ctx.fence()  # a create is fenced by its pending mark, below
                done[0] += 1
                ctx.progress("writing to the PBX", done[0], total)

        def mark_pending(user_id: str, number: str) -> None:
            """The lock checked and the create marked pending in one round trip."""
            assert fenced_hset is not None
            fenced_hset(*ctx.store.pending_mark(user_id, number))

        return apply(ops, ctx.pbx, ctx.store, now=ctx.now().isoformat(),
                     send_welcome_email=bool(ctx.document["users"]["send_welcome_email"]),
                     before=before, mark_pending=mark_pending if fenced_hset else None,
                     width=pbx_concurrency(ctx.document))

    def finish(self, snapshot: Snapshot, outcome: Outcome, held: bool, ctx: Context) -> int:
        rules = ctx.document["users"]
        if not held and not outcome.counts.get("failed"):
            ctx.store.set_delta_link(delta_name(rules), snapshot.next_link)  # else read again
        synced = ctx.store.linked_user_ids()
        if snapshot.scope is None:
            return sum(1 for w in snapshot.desired.wanted if w.user_id in synced)
        return len(synced)


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


def wind_down(links: Mapping[str, Link], *, delete: bool, reason: str) -> tuple[Operation, ...]:
    """Delete every synced extension, or release them all: unlinked, left to the PBX."""
    kind = Delete if delete else Release
    return tuple(kind(uid, link.label or uid, link.ext_id, link.number, reason)
                 for uid, link in sorted(links.items()))


class UserWindDown(UserSync):
    """Disable, disconnect or pause (C3, C4, M4): delete the synced extensions, or release them."""

    def __init__(self, *, delete: bool, reason: str) -> None:
        self.delete, self.reason = delete, reason

    def read(self, ctx: Context) -> None:
        return None

    def plan(self, snapshot: Any, ctx: Context) -> tuple[Operation, ...]:
        return wind_down(ctx.store.user_links(), delete=self.delete, reason=self.reason)

    def finish(self, snapshot: Any, outcome: Outcome, held: bool, ctx: Context) -> int:
        return len(ctx.store.user_links())
