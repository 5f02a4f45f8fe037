"""One presence poll: read the Teams presence of every synced user, apply what changed."""

from __future__ import annotations

from typing import Any

from core.apply import apply_presence
from core.graph import GraphClient
from core.pbx import PbxClient
from core.presence import plan_presence
from core.state import StateStore


def sync_presence(*, graph: GraphClient, pbx: PbxClient, state: StateStore) -> dict[str, Any]:
    """Poll `getPresencesByUserId` (650 users a call) and update the extensions whose user's
    availability changed since it was last applied. Raises on a failed read."""
    links = state.user_links()
    extensions = {uid: (link.ext_id, link.number) for uid, link in links.items()}
    presences = graph.presences(sorted(extensions))
    updates = plan_presence(presences, extensions, state.presence_preferences(),
                            state.presence_seen())
    outcome = apply_presence(updates, pbx, state)
    return {"checked": len(presences), "updated": outcome.counts.get("updated", 0),
            "failed": outcome.counts.get("failed", 0), "failures": outcome.failures}
