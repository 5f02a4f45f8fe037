"""Presence records: one extension's presence to set."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PresenceUpdate:
    user_id: str
    ext_id: int
    number: str
    availability: str
    status: str
