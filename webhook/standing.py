"""A signed-in user's standing in Entra, asked of Graph at sign-in and again at least every ten
minutes of a session (webhook/auth.py): is the account still there and enabled, and is it a
member — through nested groups too — of one of `sso.admin_group_ids`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import GraphError
from core.graph.client import GraphClient


@dataclass(frozen=True)
class Standing:
    enabled: bool
    admin: bool


def standing(graph: GraphClient, user_id: str, admin_group_ids: Iterable[str]) -> Standing:
    """The user's standing; a deleted user is not enabled; raises SyncError when Graph fails."""
    try:
        user = graph.request("GET", f"users/{user_id}", params={"$select": "accountEnabled"})
    except GraphError as exc:
        if exc.status == 404:
            return Standing(enabled=False, admin=False)
        raise
    enabled = user.get("accountEnabled") is not False
    return Standing(enabled=enabled,
                    admin=enabled and any(_member(graph, g, user_id) for g in admin_group_ids))


def _member(graph: GraphClient, group_id: str, user_id: str) -> bool:
    """Whether the user is a transitive member; a group deleted since it was chosen has none."""
    try:
        return any(member == user_id for member in graph.group_user_ids(group_id))
    except GraphError as exc:
        if exc.status == 404:
            return False
        raise
