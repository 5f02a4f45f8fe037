"""Provision one user on demand: user sync for a single Entra ID user, at once.

The same rules, planner and apply as a sync: the desired state of this one user is planned
against the whole PBX and every link, scoped to the user (as an incremental run is scoped to
the users it read), so numbering, adoption by email and release behave as in a sync. It never
deletes: a deletion the plan asks for is left to a sync and its deletion guard. It runs through
the engine as a run of its own (trigger "provision"), so it is recorded and listed like any
run, and each write is fenced by the sync lock, which the caller holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.engine.engine import Context, execute
from core.engine.outcome import Outcome
from core.engine.runs import Run
from core.errors import PbxError, SyncError
from core.graph.client import GraphClient
from core.graph.records import EntraUser
from core.pbx.client import PbxClient
from core.users.directory import Directory
from core.users.plan import desired_state, plan
from core.users.records import Delete, Link, Operation, Skip
from core.users.sync import Snapshot, UserSync, read_pbx

LEFT_TO_SYNC = "deleting an extension is left to a sync (its deletion guard)"
WRITES = frozenset({"extension/create", "extension/update", "extension/delete",
                    "extension/send_welcome_email"})
MAX_NAMED_GROUPS = 3


@dataclass(frozen=True)
class Write:
    """One PBX write and its answer, as the "write" step shows it."""

    endpoint: str
    errcode: int
    errmsg: str = ""
    ext_id: int | None = None
    fields: tuple[str, ...] = ()


class WitnessedPbx(PbxClient):
    """The PBX client, noting every write and the PBX's answer to it."""

    def __init__(self, inner: PbxClient) -> None:
        super().__init__(base_url=inner.base_url, transport=inner.transport,
                         token_source=inner.token_source, page_size=inner.page_size,
                         busy_attempts=inner.busy_attempts)
        self.writes: list[Write] = []

    def call(self, method: str, endpoint: str, *, params: dict[str, Any] | None = None,
             json: Any = None) -> dict[str, Any]:
        if endpoint not in WRITES:
            return super().call(method, endpoint, params=params, json=json)
        sent = tuple(k for k in (json or {}) if k not in ("id", "type") and "password" not in k)
        try:
            answer = super().call(method, endpoint, params=params, json=json)
        except PbxError as exc:
            self.writes.append(Write(endpoint, exc.errcode, exc.errmsg, fields=sent))
            raise
        found = answer.get("id")
        self.writes.append(Write(endpoint, 0, ext_id=int(found) if found is not None else None,
                                 fields=sent))
        return answer


@dataclass
class Seen:
    """What provisioning found on its way: the steps are told from it."""

    user: EntraUser
    link_before: Link | None
    in_range: bool | None = None  # None: the range could not be read
    range_reason: str = ""
    failed_at: str | None = None  # the step whose read failed
    snapshot: Snapshot | None = None
    pending: Mapping[str, str] = field(default_factory=dict)
    planned: tuple[Operation, ...] = ()  # the plan's operations about this user
    ops: tuple[Operation, ...] = ()  # what was handed to apply
    outcome: Outcome | None = None


def read_range(graph: GraphClient, user: EntraUser, rules: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the user is in the sync range (U1), and why, in words."""
    if rules["range"] == "types":
        kind = user.user_type
        if kind in rules["user_types"]:
            return True, f"in range: user type {kind} is synced"
        return False, f"out of range: user type {kind} is not synced"
    if rules["range"] == "groups":
        chosen = [str(g) for g in rules["group_ids"]]
        member_of = graph.member_groups(user.id, chosen) if chosen else set()
        groups = [g for g in chosen if g in member_of]
        if not groups:
            return False, "out of range: not in any synced group"
        names = [graph.group(g).display_name or g for g in groups[:MAX_NAMED_GROUPS]]
        more = len(groups) - len(names)
        return True, f"in range: member of {', '.join(names)}" + (f" and {more} more synced "
                                                                  "groups" if more else "")
    return True, "in range: all users are synced"


class OneUser(UserSync):
    """User sync for one user: a sync's reads, plan and apply, scoped to them."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def read(self, ctx: Context) -> Snapshot:
        seen, rules = self.seen, ctx.document["users"]
        user = seen.user
        try:
            seen.in_range, seen.range_reason = read_range(ctx.graph, user, rules)
        except SyncError as exc:
            seen.failed_at, seen.range_reason = "range", f"the range could not be read: {exc}"
            raise
        directory = Directory(users={user.id: user},
                              in_range=frozenset({user.id}) if seen.in_range else frozenset())
        desired = desired_state(directory, rules)
        links = ctx.store.user_links()
        own = links.get(user.id)
        emails = {w.owned.email_addr.lower() for w in desired.wanted if w.owned.email_addr}
        try:
            view = read_pbx(ctx.pbx, [own.ext_id] if own else [], emails)
        except SyncError:
            seen.failed_at = "match"
            raise
        seen.snapshot = Snapshot(desired, view, links, frozenset({user.id}), next_link="")
        return seen.snapshot

    def plan(self, snapshot: Snapshot, ctx: Context) -> tuple[Operation, ...]:
        seen, uid = self.seen, self.seen.user.id
        seen.pending = ctx.store.pending_creates()
        ops = plan(snapshot.desired, snapshot.view, snapshot.links, pending=seen.pending,
                   scope=snapshot.scope)
        seen.planned = tuple(op for op in ops if op.user_id == uid)
        deletes = any(isinstance(op, Delete) for op in seen.planned)
        label = next((op.label for op in seen.planned), uid)
        seen.ops = (Skip(uid, label, LEFT_TO_SYNC),) if deletes else seen.planned
        return seen.ops

    def apply(self, ops: Any, ctx: Context) -> Outcome:
        self.seen.outcome = super().apply(ops, ctx)
        return self.seen.outcome

    def finish(self, snapshot: Snapshot, outcome: Outcome, held: bool, ctx: Context) -> int:
        """One user synced or none; delta links are a sync's business and stay as they are."""
        return int(self.seen.user.id in ctx.store.user_links())


def provision(user: EntraUser, *, graph: GraphClient, pbx: PbxClient, store: Any,
              document: Mapping[str, Any], fence: Callable[[], None],
              fenced_hset: Callable[[str, str, str], None] | None = None,
              now: Callable[[], dt.datetime] | None = None) -> tuple[Seen, list[Write], Run]:
    """Sync `user` now, as a run of its own; what was seen, the PBX writes, and the run.
    `fence` and `fenced_hset` are the held sync lock's, as a sync's (`Context`)."""
    seen = Seen(user, link_before=store.user_links().get(user.id))
    witness = WitnessedPbx(pbx)
    ctx = Context(graph=graph, pbx=witness, store=store, document=document, fence=fence,
                  fenced_hset=fenced_hset)
    if now is not None:
        ctx.now = now
    run = execute(Run.new("users", trigger="provision", now=ctx.now()), [OneUser(seen)], ctx)
    return seen, witness.writes, run
