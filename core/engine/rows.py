"""The per-object results of a run: one row for each operation a part planned.

A row says what happened to one object (or, for a dry run, what would): its part, outcome,
Entra name and id, the PBX object (an extension number, an extension group's or a contact's
name), and why. Outcomes are those of `OUTCOMES`; an adoption, counted as `linked` in a run's
counts, is `adopted` here. Rows are made from the plan after the guard, so every operation
gets one: what apply recorded as failed or skipped for that very operation (by identity),
else the operation's own kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.engine.guard import Guarded
from core.engine.outcome import Outcome

OUTCOMES = ("created", "updated", "adopted", "released", "deleted", "skipped", "failed", "held")
FIELDS = ("part", "outcome", "name", "object_id", "extension", "reason")
_RENAMED = {"linked": "adopted"}


def identify(op: Any) -> dict[str, str]:
    """The name, Entra id and PBX object of an operation on a user, a group or a contact."""
    if hasattr(op, "group_id"):
        return {"name": op.name, "object_id": op.group_id,
                "extension": getattr(op, "new_name", None) or op.name}
    if hasattr(op, "user_id"):
        return {"name": op.label, "object_id": op.user_id,
                "extension": getattr(op, "number", "") or ""}
    name = getattr(op, "label", None) or getattr(op, "name", None) or op.key
    return {"name": name, "object_id": op.key, "extension": getattr(op, "name", None) or name}


def why(op: Any) -> str:
    """The reason an operation carries, or what an update changes."""
    reason = getattr(op, "reason", None)
    if reason:
        return str(reason)
    if getattr(op, "recreate", False):
        return "re-created: its extension was gone or had another number"
    changed = [name for name, _ in getattr(op, "changes", None) or ()]
    if getattr(op, "new_name", None):
        changed.append("name")
    if getattr(op, "member_ext_ids", None) is not None and hasattr(op, "new_name"):
        changed.append("members")
    return f"changes {', '.join(changed)}" if changed else ""


def object_rows(part: Any, guarded: Guarded, *, limit: int,
                outcome: Outcome | None = None) -> list[dict[str, Any]]:
    """The rows of one part: planned ones when `outcome` is None (a dry run), else applied."""
    planned = outcome is None
    kinds: Mapping[type, str] = getattr(part, "object_kinds", part.kinds)
    explain: Callable[[Any], str | None] = getattr(part, "explain", lambda _op: None)
    rows = []
    for op in guarded.to_apply:
        recorded = outcome.result_of(op) if outcome is not None else None
        if recorded is not None:
            status, reason = recorded
        else:
            kind = kinds.get(type(op)) or "updated"
            status, reason = _RENAMED.get(kind, kind), explain(op) or why(op)
        rows.append(row(part.name, status, identify(op), reason, planned))
    for op in guarded.held:
        reason = f"more than safety.max_deletions ({limit}) deletions in one run"
        rows.append(row(part.name, "held", identify(op),
                        f"{reason}; {why(op)}" if why(op) else reason, planned))
    for op, waiting in zip(guarded.waiting, guarded.waiting_rows(), strict=True):
        rows.append(row(part.name, "skipped", identify(op), waiting["reason"], planned))
    for status, loose in outcome.loose() if outcome is not None else ():
        found = {"name": str(loose.get("name", "")),
                 "object_id": str(loose.get("user_id") or loose.get("group_id")
                                  or loose.get("contact") or loose.get("mailbox") or ""),
                 "extension": str(loose.get("number", ""))}
        rows.append(row(part.name, status, found, str(loose.get("reason", "")), planned))
    return rows


def row(part: str, outcome: str, found: Mapping[str, str], reason: str,
        planned: bool) -> dict[str, Any]:
    return {"part": part, "outcome": outcome, "name": found["name"],
            "object_id": found["object_id"], "extension": found["extension"],
            "reason": reason, "planned": planned}
