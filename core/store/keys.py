"""Every Redis key the product uses, named in one place.

All keys live under one namespace (default `eps`). Dramatiq's own keys live under
`eps-dramatiq` (workers/broker.py); nothing else writes to Redis.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    ns: str = "eps"

    def _k(self, *parts: str) -> str:
        return ":".join((self.ns, *parts))

    # what links synced objects to their source: the mark of a managed object (U7, G4)
    def links(self, kind: str) -> str:
        """Hash: users | groups | phonebooks | contacts → link records."""
        return self._k("links", kind)

    def links_tenant(self) -> str:
        return self._k("links", "tenant")

    def pending_users(self) -> str:
        return self._k("pending", "users")

    def released_users(self) -> str:
        return self._k("released", "users")

    def delta(self, name: str) -> str:
        return self._k("delta", name)

    def delta_pattern(self) -> str:
        return self._k("delta", "*")

    # what the administrator chose
    def settings(self) -> str:
        return self._k("settings")

    def saved(self, part: str) -> str:
        return self._k("settings", "saved", part)

    def integration(self) -> str:
        return self._k("integration")

    def connection(self) -> str:
        return self._k("connection")

    def connection_check(self) -> str:
        return self._k("connection", "check")

    # runs
    def runs(self) -> str:
        return self._k("runs")

    def run(self, run_id: str) -> str:
        return self._k("run", run_id)

    def sync_lock(self) -> str:
        return self._k("lock", "sync")

    def lock(self, name: str) -> str:
        return self._k("lock", name)

    # change notifications and subscriptions
    def subscriptions(self) -> str:
        return self._k("subscriptions")

    def debounce(self, *parts: str) -> str:
        return self._k("debounce", *parts)

    def clock_claim(self, job: str, stamp: str) -> str:
        return self._k("clock", job, stamp)

    # presence and sign-in
    def presence(self, name: str) -> str:
        """preferences | seen | authorization | certificate."""
        return self._k("presence", name)

    def flow(self, kind: str, state: str) -> str:
        """A sign-in flow in progress: sso | presence."""
        return self._k(kind, "flow", state)

    def metrics(self) -> str:
        return self._k("metrics", "actors")
