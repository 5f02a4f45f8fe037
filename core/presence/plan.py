"""Teams presence → extension presence (P1-P3), the pure part.

Graph's `availability` values are matched case-insensitively (the documents disagree on
their spelling); a value outside the map, and `PresenceUnknown`, change nothing. One way
only: a status set on the PBX is never written back, and is not overwritten until the Teams
availability changes again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.graph.records import Presence
from core.presence.records import PresenceUpdate

PBX_PRESENCE = ("available", "away", "business_trip", "do_not_disturb", "lunch", "off_work")
# SPEC P2: Available → Available; Busy → Away; Do not disturb → Do Not Disturb;
# Be right back → Lunch Break; Appear away → Off Work; Appear offline → Off Work.
DEFAULT_MAP: dict[str, str] = {
    "Available": "available", "AvailableIdle": "available", "Busy": "away", "BusyIdle": "away",
    "DoNotDisturb": "do_not_disturb", "BeRightBack": "lunch", "Away": "off_work",
    "Offline": "off_work",
}
AVAILABILITY = (*DEFAULT_MAP, "PresenceUnknown")
_CANONICAL = {name.lower(): name for name in AVAILABILITY}




def map_errors(preference: Any) -> dict[str, list[str]]:
    """Field errors of a `{"enabled", "map"}` preference document."""
    errors: dict[str, list[str]] = {}
    if not isinstance(preference, dict):
        return {"_schema": ["must be an object with 'enabled' and 'map'"]}
    unknown = set(preference) - {"enabled", "map"}
    for key in sorted(unknown):
        errors[key] = ["unknown field"]
    if "enabled" in preference and not isinstance(preference["enabled"], bool):
        errors["enabled"] = ["must be true or false"]
    mapping = preference.get("map", {})
    if not isinstance(mapping, dict):
        errors["map"] = ["must be an object of Teams availability to PBX presence"]
        return errors
    for key, value in mapping.items():
        if str(key).lower() not in _CANONICAL:
            errors[f"map.{key}"] = [f"unknown Teams availability; one of {', '.join(AVAILABILITY)}"]
        elif value not in PBX_PRESENCE:
            errors[f"map.{key}"] = [f"unknown PBX presence; one of {', '.join(PBX_PRESENCE)}"]
    return errors


def effective(preference: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored preference with the defaults filled in: enabled, and every key mapped."""
    preference = preference or {}
    chosen = {_CANONICAL[str(k).lower()]: v for k, v in (preference.get("map") or {}).items()}
    return {"enabled": bool(preference.get("enabled", True)), "map": DEFAULT_MAP | chosen}


def target(availability: str, mapping: Mapping[str, str]) -> str | None:
    """The PBX presence for a Teams availability, or None to leave the extension as it is."""
    name = _CANONICAL.get(availability.lower())
    return mapping.get(name) if name else None


def plan_presence(presences: list[Presence], extensions: Mapping[str, tuple[int, str]],
                  preferences: Mapping[str, Mapping[str, Any]],
                  last_seen: Mapping[str, str]) -> tuple[PresenceUpdate, ...]:
    """Updates for the synced users whose Teams availability changed since it was last applied.

    `extensions` maps user ids to (extension id, number); `preferences` are keyed by user id
    (a number goes to someone else when its user leaves; the preference does not).
    """
    updates = []
    for presence in sorted(presences, key=lambda p: p.id):
        if presence.id not in extensions or last_seen.get(presence.id) == presence.availability:
            continue
        ext_id, number = extensions[presence.id]
        preference = effective(preferences.get(presence.id))
        status = target(presence.availability, preference["map"]) if preference["enabled"] else None
        if status is not None:
            updates.append(PresenceUpdate(presence.id, ext_id, number, presence.availability,
                                          status))
    return tuple(updates)
