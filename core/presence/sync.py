"""Read the Teams presence of synced users, and apply what changed to their extensions."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.presence.apply import apply_presence
from core.presence.plan import plan_presence
from core.store.redis import StateStore


def sync_presence(*, graph: GraphClient, pbx: PbxClient, state: StateStore,
                  user_ids: Collection[str] | None = None) -> dict[str, Any]:
    """Read presence with `getPresencesByUserId` (650 users a call) for the synced users among
    `user_ids` (default: all of them) and update the extensions whose user's availability
    changed since it was last applied. Raises on a failed read. The preferences of users no
    longer synced are dropped first."""
    state.prune_presence_preferences()
    links = state.user_links()
    extensions = {uid: (link.ext_id, link.number) for uid, link in links.items()
                  if user_ids is None or uid in user_ids}
    presences = graph.presences(sorted(extensions)) if extensions else []
    updates = plan_presence(presences, extensions, state.presence_preferences(),
                            state.presence_seen())
    outcome = apply_presence(updates, pbx, state)
    return {"checked": len(presences), "updated": outcome.counts.get("updated", 0),
            "failed": outcome.counts.get("failed", 0), "failures": outcome.failures}
