"""When may a part run: one rule for the actors, the admin API, the CLI and the clock.

A part runs only when the tenant is connected, the integration is enabled, the part is not
paused, its settings were saved at least once, and it is on. Lost state closes: when the
settings document or the integration's switches are missing from the store, nothing runs
until an administrator saves the settings again — never the defaults, never "enabled".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

SYNC_PARTS = ("users", "groups", "contacts")  # in this order: groups need users' extensions
_PAUSED = {"users": "users_paused", "groups": "groups_paused"}
_NAMES = {"users": "user sync", "groups": "group sync", "contacts": "contact sync",
          "presence": "Teams presence sync"}


@dataclass(frozen=True)
class Refusal:
    """Why a part may not run: a reason code (INTERFACES.md) and a sentence."""

    reason: str  # not_connected | disabled | paused | not_configured | off
    message: str


def part_on(part: str, document: Mapping[str, Any]) -> bool:
    """Whether a part is switched on in the settings document."""
    if part == "contacts":
        rules = document["contacts"]
        return bool(rules["personal"]["enabled"] or rules["shared"]["enabled"])
    return bool(document[part]["enabled"])


@dataclass(frozen=True)
class Situation:
    """What the rule looks at, read once from the store."""

    connected: bool
    flags: Mapping[str, Any] | None
    document: Mapping[str, Any] | None
    saved: frozenset[str]

    @property
    def lost(self) -> bool:
        """Settings or switches are missing although parts were configured before."""
        return bool(self.saved) and (self.flags is None or self.document is None
                                     or bool(self.flags.get("unconfirmed")))

    def why_not(self, part: str) -> Refusal | None:
        """Why `part` may not run now, or None when it may."""
        name = _NAMES[part]
        flags, document = self.flags, self.document
        if not self.connected or (flags is not None and flags["state"] == "disconnected"):
            return Refusal("not_connected", "not connected: connect the Entra ID tenant first")
        if flags is None or document is None or flags.get("unconfirmed"):
            return Refusal("not_configured", "the stored settings are missing: save the "
                           "settings again to turn the sync back on")
        if flags["state"] == "disabled":
            return Refusal("disabled", "the integration is disabled")
        if flags.get(_PAUSED.get(part, ""), False):
            return Refusal("paused", f"{name} is paused")
        if part not in self.saved:
            return Refusal("not_configured", f"{name} is not configured: save its settings "
                           "to turn it on")
        if not part_on(part, document):
            return Refusal("off", f"{name} is off in the settings")
        return None

    def runnable(self, scope: str) -> tuple[list[str], dict[str, Refusal]]:
        """The parts of `scope` that may run, and why each other one may not."""
        asked = [p for p in SYNC_PARTS if scope in (p, "all")]
        refusals = {p: r for p in asked if (r := self.why_not(p)) is not None}
        return [p for p in asked if p not in refusals], refusals


def refusal_of(refusals: Mapping[str, Refusal]) -> Refusal:
    """One refusal for a scope none of whose parts may run: the first part's reason."""
    first = next(iter(refusals.values()))
    text = "; ".join(r.message for r in refusals.values())
    return Refusal(first.reason, text)


def preview_parts(patch: Mapping[str, Any], document: Mapping[str, Any]) -> list[str]:
    """The parts a preview of `patch` plans: those it touches that `document` has on, or,
    when it touches none (only safety, say), every part `document` has on."""
    touched = [p for p in SYNC_PARTS if p in patch]
    return [p for p in (touched or SYNC_PARTS) if part_on(p, document)]


def proposed(now: Situation, document: Mapping[str, Any], parts: Iterable[str]) -> Situation:
    """The situation a save of `document` would leave: `parts` saved, and lost switches
    confirmed as a save confirms them (webhook/api.py); connection, disable and pause stay."""
    flags = None if now.flags is None else {k: v for k, v in now.flags.items()
                                            if k != "unconfirmed"}
    flags = _SWITCHES | (flags or {})
    return replace(now, flags=flags, document=document, saved=now.saved | frozenset(parts))


_SWITCHES = {"state": "enabled", "users_paused": False, "groups_paused": False}


class _Store(Protocol):
    def flags(self) -> dict[str, Any] | None: ...
    def stored_settings(self) -> dict[str, Any] | None: ...
    def saved_parts(self) -> frozenset[str]: ...


def situation_of(store: _Store, *, connected: bool) -> Situation:
    return Situation(connected=connected, flags=store.flags(), document=store.stored_settings(),
                     saved=store.saved_parts())
