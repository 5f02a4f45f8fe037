"""The deletion guard, one for every part (SPEC "Always": accidental-deletion guard).

Extensions, extension groups, phonebooks and contacts all count. A plan that deletes more
than `safety.max_deletions` objects keeps its other operations and holds every deletion —
and every operation that waits for one of them, such as a create that needs the number a
deleted extension frees — until a run is started with `allow_deletions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core.engine.outcome import subject


@dataclass(frozen=True)
class Guarded:
    """A plan after the guard: what to apply, the deletions held, and what waits for them."""

    to_apply: tuple[Any, ...]
    held: tuple[Any, ...] = ()
    waiting: tuple[Any, ...] = ()

    def held_rows(self, kind_of: Callable[[Any], str | None]) -> list[dict[str, Any]]:
        return [subject(op) | {"kind": kind_of(op),
                               "reason": getattr(op, "reason", "no longer synced")}
                for op in self.held]

    def waiting_rows(self) -> list[dict[str, Any]]:
        held = {getattr(op, "ext_id", None): op for op in self.held}
        return [subject(op) | {"reason": _waiting_reason(op, held[op.after_delete])}
                for op in self.waiting]


def hold_deletions(ops: Sequence[Any], kind_of: Callable[[Any], str | None], *,
                   limit: int, allow: bool) -> Guarded:
    """Hold every deletion when there are more than `limit`, unless `allow`."""
    deletions = tuple(op for op in ops if kind_of(op))
    if allow or len(deletions) <= limit:
        return Guarded(tuple(ops))
    held_ext = {getattr(op, "ext_id", None) for op in deletions} - {None}
    waiting = tuple(op for op in ops if getattr(op, "after_delete", None) in held_ext)
    parked = {id(op) for op in waiting}
    rest = tuple(op for op in ops if not kind_of(op) and id(op) not in parked)
    return Guarded(rest, deletions, waiting)


def _waiting_reason(op: Any, deletion: Any) -> str:
    """Why an operation waits: the number it takes is freed by a deletion that is held."""
    number = getattr(op, "number", "")
    if getattr(deletion, "user_id", None) == getattr(op, "user_id", None):  # a re-creation
        return (f"the extension is re-created with number {number} once its old extension "
                f"{getattr(deletion, 'number', '')} may be deleted, which is held back")
    return (f"number {number} is freed by deleting the extension of "
            f"{getattr(deletion, 'label', '')}, which is held back")
