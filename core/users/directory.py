"""Reading the directory side of a user sync: complete reads only, every page or an error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.graph.client import DeltaRound, GraphClient
from core.graph.records import USER_SELECT, EntraUser

DELETED_SELECT = ("id", "displayName", "userPrincipalName", "mail")


@dataclass(frozen=True)
class Directory:
    """The users of the tenant, which of them are in range, and which are soft-deleted."""

    users: Mapping[str, EntraUser]
    in_range: frozenset[str]
    soft_deleted: frozenset[str] = field(default_factory=frozenset)


def user_select(rules: Mapping[str, Any]) -> tuple[str, ...]:
    """The `$select` for users: what the sync needs, plus the numbering property's root."""
    root = str(rules["numbering"]["property"]).split(".")[0]
    return USER_SELECT if root in USER_SELECT else (*USER_SELECT, root)


def read_directory(graph: GraphClient, rules: Mapping[str, Any]) -> Directory:
    """Read every user, the deleted ones, and the range of U1; raises on any failed read.

    The group range uses `transitiveMembers`, so users of nested groups are in range too; the
    groups' members are read together, 20 groups a batch.
    """
    users = {u.id: u for u in graph.users(select=user_select(rules))}
    soft_deleted = frozenset(u.id for u in graph.deleted_users(select=DELETED_SELECT))
    if rules["range"] == "types":
        in_range = {uid for uid, u in users.items() if u.user_type in rules["user_types"]}
    elif rules["range"] == "groups":
        members = graph.members_of(rules["group_ids"], transitive=True)
        in_range = {uid for ids in members.values() for uid in ids} & users.keys()
    else:
        in_range = set(users)
    return Directory(users=users, in_range=frozenset(in_range), soft_deleted=soft_deleted)


def directory_from_delta(changes: DeltaRound, rules: Mapping[str, Any]) -> Directory:
    """The users a delta round reported, as a directory of just them (groups range excluded)."""
    users = {u.id: u for u in changes.changed}
    in_range = (set(users) if rules["range"] == "all"
                else {uid for uid, u in users.items() if u.user_type in rules["user_types"]})
    soft = frozenset(r.id for r in changes.removed if r.reason == "changed")
    return Directory(users=users, in_range=frozenset(in_range), soft_deleted=soft)
