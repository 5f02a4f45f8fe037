"""The integration's switches (C3 disable, C4 disconnect, M4/M5 pause) and what they do.

Flags live in Redis under `<ns>:integration`. Disabling or pausing stops syncs and keeps the
configuration (read-only); disconnecting also forgets the credentials. Each of them can delete
the synced extensions; what is not deleted stays linked and managed (disable, pause) or is
released to the PBX (disconnect).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.groups.records import DeleteGroup, GroupLink, GroupOperation, ReleaseGroup
from core.store.redis import StateStore
from core.users.records import Delete, Link, Operation, Release

DEFAULT_FLAGS: dict[str, Any] = {"state": "enabled", "users_paused": False, "groups_paused": False}


def flags(store: StateStore) -> dict[str, Any]:
    raw = store.redis.get(store.key("integration"))
    return DEFAULT_FLAGS | (json.loads(raw) if raw else {})


def set_flags(store: StateStore, **changes: Any) -> dict[str, Any]:
    current = flags(store) | changes
    store.redis.set(store.key("integration"), json.dumps(current))
    return current


def users_blocked(current: Mapping[str, Any]) -> str | None:
    """Why user sync may not run now, or None."""
    if current["state"] != "enabled":
        return f"the integration is {current['state']}"
    if current["users_paused"]:
        return "user sync is paused"
    return None


def groups_blocked(current: Mapping[str, Any]) -> str | None:
    """Why group sync may not run now, or None."""
    if current["state"] != "enabled":
        return f"the integration is {current['state']}"
    if current["groups_paused"]:
        return "group sync is paused"
    return None


def wind_down_groups(links: Mapping[str, GroupLink], *, delete: bool,
                     reason: str) -> tuple[GroupOperation, ...]:
    """Delete every synced extension group, or release them all."""
    kind = DeleteGroup if delete else ReleaseGroup
    return tuple(kind(gid, link.name, link.pbx_group_id, reason)
                 for gid, link in sorted(links.items()))


def wind_down(links: Mapping[str, Link], *, delete: bool, reason: str) -> tuple[Operation, ...]:
    """Delete every synced extension, or release them all: unlinked, left to the PBX."""
    kind = Delete if delete else Release
    return tuple(kind(uid, link.label or uid, link.ext_id, link.number, reason)
                 for uid, link in sorted(links.items()))
