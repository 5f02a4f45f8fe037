"""What applying a plan did: counts, failures and skips, shared by every part.

A failure or skip recorded with `fail`/`skip` is also remembered against its operation, by
identity (two equal operations of one plan are still two objects), so that the per-object
results of a run (core/engine/rows.py) name the exact operation that failed.
"""

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
    concurrency: dict[str, int] = field(default_factory=dict)  # PBX width: start, min, end
    by_op: dict[int, tuple[str, str]] = field(default_factory=dict, repr=False)
    _rows_of_ops: set[int] = field(default_factory=set, repr=False)

    def fail(self, op: Any, reason: str) -> None:
        self.counts["failed"] += 1
        row = subject(op) | {"operation": type(op).__name__.lower(), "reason": reason}
        self.failures.append(row)
        self._remember(op, row, "failed", reason)

    def skip(self, op: Any, reason: str) -> None:
        self.counts["skipped"] += 1
        row = subject(op) | {"reason": reason}
        self.skipped.append(row)
        self._remember(op, row, "skipped", reason)

    def wait(self, rows: list[dict[str, Any]]) -> None:
        """Skips of operations that wait for a held deletion (the rows say which)."""
        self.skipped += rows
        self.counts["skipped"] += len(rows)
        self._rows_of_ops.update(id(row) for row in rows)

    def merge(self, other: Outcome) -> None:
        """Add what `other` recorded: one operation's outcome, kept apart while it ran on a
        thread of its own and merged here in plan order, so the rows keep that order."""
        self.counts.update(other.counts)
        self.failures += other.failures
        self.skipped += other.skipped
        self.created_ids += other.created_ids
        self.unresolved += other.unresolved
        self.by_op |= other.by_op
        self._rows_of_ops |= other._rows_of_ops

    def _remember(self, op: Any, row: dict[str, Any], outcome: str, reason: str) -> None:
        self.by_op[id(op)] = (outcome, reason)  # a later failure (e.g. not linked) wins
        self._rows_of_ops.add(id(row))

    def result_of(self, op: Any) -> tuple[str, str] | None:
        """("failed" | "skipped", reason) when `op` was recorded so, else None (it went well)."""
        return self.by_op.get(id(op))

    def loose(self) -> list[tuple[str, dict[str, Any]]]:
        """Failures and skips recorded without an operation (a welcome email, a mailbox)."""
        return [(name, row) for name, rows in (("failed", self.failures),
                                               ("skipped", self.skipped))
                for row in rows if id(row) not in self._rows_of_ops]


def subject(op: Any) -> dict[str, Any]:
    """Who an operation is about: a user, a group or a contact, its name and extension."""
    if hasattr(op, "group_id"):
        return {"group_id": op.group_id, "name": op.name}
    if hasattr(op, "user_id"):
        found = {"user_id": op.user_id, "name": op.label}
        return found | ({"number": op.number} if getattr(op, "number", None) else {})
    return {"contact": op.key, "name": getattr(op, "label", getattr(op, "name", op.key))}
