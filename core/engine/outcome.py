"""What applying a plan did: counts, failures and skips, shared by every part."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)
    unresolved: list[Any] = field(default_factory=list)  # created, id not known yet

    def fail(self, op: Any, reason: str) -> None:
        self.counts["failed"] += 1
        self.failures.append(subject(op) | {"operation": type(op).__name__.lower(),
                                            "reason": reason})

    def skip(self, op: Any, reason: str) -> None:
        self.counts["skipped"] += 1
        self.skipped.append(subject(op) | {"reason": reason})


def subject(op: Any) -> dict[str, Any]:
    """Who an operation is about: a user, a group or a contact, its name and extension."""
    if hasattr(op, "group_id"):
        return {"group_id": op.group_id, "name": op.name}
    if hasattr(op, "user_id"):
        found = {"user_id": op.user_id, "name": op.label}
        return found | ({"number": op.number} if getattr(op, "number", None) else {})
    return {"contact": op.key, "name": getattr(op, "label", getattr(op, "name", op.key))}
