"""Group sync (G1-G5) as a part of the engine: groups → extension groups.

Groups are few next to users, so every run reads them whole: the groups, the users of each
group in range (through nested groups), and the PBX's extension groups and extensions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.engine.engine import Context
from core.engine.outcome import Outcome
from core.graph.client import GraphClient
from core.graph.records import EntraGroup
from core.groups.apply import apply_groups
from core.groups.plan import desired_groups, in_range, plan_groups
from core.groups.records import (
    CreateGroup,
    DeleteGroup,
    GroupLink,
    GroupOperation,
    ReleaseGroup,
    SkipGroup,
    UpdateGroup,
    WantedGroup,
)
from core.pbx.records import ExtensionGroup
from core.sync_settings import pbx_concurrency

KINDS = {CreateGroup: "created", UpdateGroup: "updated", DeleteGroup: "deleted",
         ReleaseGroup: "released", SkipGroup: "skipped"}
DELETIONS = {DeleteGroup: "extension_group"}


def read_groups(graph: GraphClient,
                rules: dict[str, Any]) -> tuple[list[EntraGroup], dict[str, list[str]]]:
    """Every group, and the users (direct and nested) of those in range (20 groups a batch)."""
    groups = list(graph.groups())
    members = graph.members_of([g.id for g in groups if in_range(g, rules)], transitive=True)
    return groups, members


@dataclass(frozen=True)
class Snapshot:
    wanted: tuple[WantedGroup, ...]
    pbx_groups: Mapping[int, ExtensionGroup]
    ext_ids: frozenset[int]


class GroupSync:
    """Groups → extension groups; members are the extensions of the group's synced users."""

    name, kinds, deletions = "groups", KINDS, DELETIONS

    def read(self, ctx: Context) -> Snapshot:
        rules = ctx.document["groups"]
        groups, members = read_groups(ctx.graph, rules)
        pbx_groups = {g.id: g for g in ctx.pbx.extension_groups()}
        ext_ids = frozenset(e.id for e in ctx.pbx.extensions())
        return Snapshot(desired_groups(groups, members, rules), pbx_groups, ext_ids)

    def plan(self, snapshot: Snapshot, ctx: Context) -> tuple[GroupOperation, ...]:
        rules = ctx.document["groups"]
        return plan_groups(snapshot.wanted, snapshot.pbx_groups, ctx.store.group_links(),
                           ctx.store.user_links(), existing_ext_ids=snapshot.ext_ids,
                           auto_delete=bool(rules["auto_delete_out_of_range"]))

    def apply(self, ops: Sequence[GroupOperation], ctx: Context) -> Outcome:
        return apply_groups(ops, ctx.pbx, ctx.store, before=lambda _op: ctx.fence(),
                            width=pbx_concurrency(ctx.document))

    def finish(self, snapshot: Snapshot, outcome: Outcome, held: bool, ctx: Context) -> int:
        synced = ctx.store.group_links()
        return sum(1 for w in snapshot.wanted if w.group_id in synced)


def wind_down_groups(links: Mapping[str, GroupLink], *, delete: bool,
                     reason: str) -> tuple[GroupOperation, ...]:
    """Delete every synced extension group, or release them all."""
    kind = DeleteGroup if delete else ReleaseGroup
    return tuple(kind(gid, link.name, link.pbx_group_id, reason)
                 for gid, link in sorted(links.items()))


class GroupWindDown(GroupSync):
    """Disable, disconnect or pause: delete the synced extension groups, or release them."""

    def __init__(self, *, delete: bool, reason: str) -> None:
        self.delete, self.reason = delete, reason

    def read(self, ctx: Context) -> Snapshot:
        return Snapshot((), {}, frozenset())

    def plan(self, snapshot: Snapshot, ctx: Context) -> tuple[GroupOperation, ...]:
        return wind_down_groups(ctx.store.group_links(), delete=self.delete, reason=self.reason)

    def finish(self, snapshot: Snapshot, outcome: Outcome, held: bool, ctx: Context) -> int:
        return len(ctx.store.group_links())
