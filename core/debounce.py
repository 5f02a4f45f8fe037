"""Change-triggered sync (M2): pending changes per kind, deduplicated, in Redis.

The first pending change of a kind asks for a run `window` seconds later; the
`max_changes`-th asks for one at once. A duplicate notification (same id, within four hours)
counts once. A run takes the pending set away atomically, so changes that arrive while it
runs start a new window and are never lost; a failed run gives its changes back.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

SEEN_TTL = 4 * 3600  # Graph retries a notification for up to four hours


@dataclass(frozen=True)
class Decision:
    """When to run: `delay` seconds from now (0 = at once), or not at all (None)."""

    delay: int | None
    pending: int


class Debouncer:
    def __init__(self, client: redis.Redis, *, namespace: str = "eps", window: int = 600,
                 max_changes: int = 10) -> None:
        self.redis, self.ns = client, namespace
        self.window, self.max_changes = window, max_changes

    def _key(self, *parts: str) -> str:
        return ":".join((self.ns, "debounce", *parts))

    def note(self, kind: str, change_ids: list[str]) -> Decision:
        """Record changes; says whether a run must be asked for, and when."""
        fresh = [c for c in dict.fromkeys(change_ids)
                 if self.redis.set(self._key("seen", c), 1, nx=True, ex=SEEN_TTL)]
        if fresh:
            self.redis.sadd(self._key("pending", kind), *fresh)
        pending = int(self.redis.scard(self._key("pending", kind)))
        if pending == 0:
            return Decision(None, 0)
        if pending >= self.max_changes:
            if self.redis.set(self._key("now", kind), 1, nx=True, ex=120):
                return Decision(0, pending)
            return Decision(None, pending)
        if fresh and self.redis.set(self._key("scheduled", kind), 1, nx=True,
                                    ex=self.window + 120):
            return Decision(self.window, pending)
        return Decision(None, pending)

    def take(self, kind: str, run_id: str) -> list[str]:
        """Move the pending changes to this run; new ones start a new window."""
        self.redis.delete(self._key("scheduled", kind), self._key("now", kind))
        target = self._key("running", kind, run_id)
        try:
            self.redis.rename(self._key("pending", kind), target)
        except redis.ResponseError:  # nothing pending
            return []
        return sorted(m.decode() if isinstance(m, bytes) else m
                      for m in self.redis.smembers(target))

    def done(self, kind: str, run_id: str) -> None:
        self.redis.delete(self._key("running", kind, run_id))

    def give_back(self, kind: str, run_id: str) -> None:
        """A failed run returns its changes, to be taken by the next one."""
        running, pending = self._key("running", kind, run_id), self._key("pending", kind)
        self.redis.sunionstore(pending, [pending, running])
        self.redis.delete(running)

    def pending(self, kind: str) -> int:
        return int(self.redis.scard(self._key("pending", kind)))
