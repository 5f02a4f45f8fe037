"""Every Redis key the product uses, named in one place.

All keys live under one namespace (default `eps`). Dramatiq's own keys live under
`eps-dramatiq` (workers/broker.py); nothing else writes to Redis. Code takes a key's name from
here, through `StateStore.keys` or a `Keys()` of its own, and never spells one out.
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
        """List: the newest run ids first, at most `RUNS_KEPT` (core/store/redis.py)."""
        return self._k("runs")

    def run(self, run_id: str) -> str:
        """A run's record, deleted when its id falls off `runs`."""
        return self._k("run", run_id)

    def run_objects(self, run_id: str) -> str:
        """List: a run's per-object results (JSON rows), deleted with its record."""
        return self._k("run", run_id, "objects")

    def run_document(self, run_id: str) -> str:
        """The proposed settings a preview (a dry run of unsaved settings) plans with."""
        return self._k("run", run_id, "document")

    def sync_lock(self) -> str:
        return self._k("lock", "sync")

    def subscriptions_lock(self) -> str:
        """One upkeep of the change subscriptions at a time."""
        return self._k("lock", "subscriptions")

    def presence_lock(self) -> str:
        """One presence poll or presence change at a time."""
        return self._k("lock", "presence")


    # change notifications and subscriptions
    def subscriptions(self) -> str:
        return self._k("subscriptions")

    def subscription_problems(self) -> str:
        """Hash: resource → why its subscription could not be kept (retried at each upkeep)."""
        return self._k("subscriptions", "problems")

    def health(self, name: str = "report") -> str:
        """report: the last live check (core/health); asked | after-failure: a check queued."""
        return self._k("health", name)

    # pending changes (core/debounce.py)
    def debounce_seen(self, change_id: str) -> str:
        """A change id seen lately: a redelivered notification counts once."""
        return self._k("debounce", "seen", change_id)

    def debounce_pending(self, kind: str) -> str:
        """Set: the change ids of `kind` waiting for a run."""
        return self._k("debounce", "pending", kind)

    def debounce_running(self, kind: str, run_id: str) -> str:
        """Set: the change ids a run took."""
        return self._k("debounce", "running", kind, run_id)

    def debounce_running_pattern(self, kind: str) -> str:
        """A SCAN pattern for every run's set of `kind`."""
        return self._k("debounce", "running", _glob_escaped(kind), "*")

    def debounce_scheduled(self, kind: str) -> str:
        return self._k("debounce", "scheduled", kind)

    def debounce_now(self, kind: str) -> str:
        return self._k("debounce", "now", kind)

    def clock_claim(self, job: str, stamp: str) -> str:
        """One clock's claim on a firing; it expires (workers/clock.py says when)."""
        return self._k("clock", job, stamp)

    # presence and sign-in
    def presence(self, name: str) -> str:
        """preferences (hash by Entra user id) | seen | authorization | certificate."""
        return self._k("presence", name)

    def flow(self, kind: str, state: str) -> str:
        """A sign-in flow in progress: sso | presence."""
        return self._k(kind, "flow", state)

    def session(self, session_id: str) -> str:
        """A browser's session (SSO or the admin token); it lives 8 hours from its last use."""
        return self._k("session", session_id)

    def sessions_epoch(self) -> str:
        """A counter: SSO sessions opened under an older value are over (SSO off, disabled)."""
        return self._k("sessions", "epoch")

    def rate(self, bucket: str, address: str) -> str:
        """A one-minute counter of `bucket` (sso-login | admin-failures) for a client address."""
        return self._k("rate", bucket, address)

    def audit(self) -> str:
        """List: the audit log's entries (JSON), newest first, at most a bounded number."""
        return self._k("audit")

    def metrics(self) -> str:
        """Hash: `<actor>|<outcome>` and `<actor>|seconds`, written by every worker."""
        return self._k("metrics", "actors")


def _glob_escaped(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
