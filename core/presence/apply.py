"""`apply_presence`: set extensions' presence on the PBX."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from core.engine.outcome import Outcome
from core.errors import (
    PbxNotFoundError,
    SyncError,
)
from core.pbx.client import PbxClient
from core.presence.records import PresenceUpdate


class PresenceBook(Protocol):
    def mark_presence_seen(self, user_id: str, availability: str) -> None: ...


def apply_presence(updates: Iterable[PresenceUpdate], pbx: PbxClient,
                   book: PresenceBook) -> Outcome:
    """Set each extension's presence; one failure does not stop the others."""
    outcome = Outcome()
    for update in updates:
        try:
            pbx.update_extension(update.ext_id, {"presence_status": update.status})
        except PbxNotFoundError:
            continue  # the extension went away; the next user sync sees to it
        except SyncError as exc:
            outcome.counts["failed"] += 1
            outcome.failures.append({"user_id": update.user_id, "name": update.number,
                                     "operation": "presence", "reason": str(exc)})
            continue
        book.mark_presence_seen(update.user_id, update.availability)
        outcome.counts["updated"] += 1
    return outcome
