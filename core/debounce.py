"""Change-triggered sync (M2): pending changes per kind, deduplicated, in Redis.

The first pending change of a kind asks for a run `window` seconds later; the
`max_changes`-th asks for one at once. A change id seen in the last four hours counts once:
the webhook passes Graph's notification id when there is one and a fresh id otherwise, so
only a redelivered Graph notification is a duplicate. A run takes the pending set away
atomically, so changes that arrive while it runs start a new window and are never lost; a
failed run gives its changes back, and `recover` brings back those of a run that died.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from core.store.keys import Keys

SEEN_TTL = 4 * 3600  # Graph retries a notification for up to four hours
NOW_TTL = 120  # how long one "run at once" request stands before another may be made


@dataclass(frozen=True)
class Decision:
    """When to run: `delay` seconds from now (0 = at once), or not at all (None)."""

    delay: int | None
    pending: int


class Debouncer:
    """Pending change ids per kind, and when a sync of them should be asked for."""

    def __init__(self, client: redis.Redis, *, namespace: str = "eps", window: int = 600,
                 max_changes: int = 10) -> None:
        self.redis, self.keys = client, Keys(namespace)
        self.window, self.max_changes = window, max_changes

    def note(self, kind: str, change_ids: list[str]) -> Decision:
        """Record changes; says whether a run must be asked for, and when."""
        unique = list(dict.fromkeys(change_ids))
        with self.redis.pipeline(transaction=False) as pipe:
            for change_id in unique:
                pipe.exists(self.keys.debounce_seen(change_id))
            fresh = [c for c, seen in zip(unique, pipe.execute(), strict=True) if not seen]
        if fresh:
            # added before being marked seen: a worker killed in between leaves the change
            # pending, and the redelivered message adds it again to the set, where it counts once
            self.redis.sadd(self.keys.debounce_pending(kind), *fresh)
            with self.redis.pipeline(transaction=False) as pipe:
                for change_id in fresh:
                    pipe.set(self.keys.debounce_seen(change_id), 1, ex=SEEN_TTL)
                pipe.execute()
        pending = self.pending(kind)
        if pending == 0:
            return Decision(None, 0)
        if pending >= self.max_changes:
            if self.redis.set(self.keys.debounce_now(kind), 1, nx=True, ex=NOW_TTL):
                return Decision(0, pending)
            return Decision(None, pending)
        # any note re-arms an unscheduled pending set, not only a fresh change: changes given
        # back or recovered with no run asked for would otherwise wait for the next new one
        if self.redis.set(self.keys.debounce_scheduled(kind), 1, nx=True,
                          ex=self.window + NOW_TTL):
            return Decision(self.window, pending)
        return Decision(None, pending)

    def take(self, kind: str, run_id: str) -> list[str]:
        """Move the pending changes to this run; new ones start a new window."""
        self.redis.delete(self.keys.debounce_scheduled(kind), self.keys.debounce_now(kind))
        target = self.keys.debounce_running(kind, run_id)
        try:
            self.redis.rename(self.keys.debounce_pending(kind), target)
        except redis.ResponseError:  # nothing pending
            return []
        return sorted(_text(m) for m in self.redis.smembers(target))

    def done(self, kind: str, run_id: str) -> None:
        """The run synced its changes; forget them (nothing happens if they were recovered)."""
        self.redis.delete(self.keys.debounce_running(kind, run_id))

    def give_back(self, kind: str, run_id: str) -> None:
        """A failed run returns its changes, to be taken by the next one."""
        self._return_to_pending(kind, self.keys.debounce_running(kind, run_id))

    def recover(self, kind: str) -> int:
        """Move the changes of every run of `kind` that died back to pending; how many came back.

        Only for a caller that holds the sync lock, so no run of `kind` is live. It asks for no
        run: that caller takes the pending set itself.
        """
        pattern = self.keys.debounce_running_pattern(kind)
        return sum(self._return_to_pending(kind, _text(key))
                   for key in list(self.redis.scan_iter(match=pattern, count=100)))

    def pending(self, kind: str) -> int:
        """How many changes of `kind` wait for a run."""
        return int(self.redis.scard(self.keys.debounce_pending(kind)))

    def due_in(self, kind: str) -> float | None:
        """Seconds until the run asked for the pending changes of `kind` starts: 0 when one
        was asked for at once, None when none is asked for (nothing pending, or a run has
        taken them)."""
        if self.redis.exists(self.keys.debounce_now(kind)):
            return 0.0
        left = self.redis.pttl(self.keys.debounce_scheduled(kind))
        return None if left < 0 else max(left / 1000 - NOW_TTL, 0.0)

    def _return_to_pending(self, kind: str, running: str) -> int:
        """Merge one run's set into pending in one transaction; its size before the merge."""
        pending = self.keys.debounce_pending(kind)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.scard(running)
            pipe.sunionstore(pending, [pending, running])
            pipe.delete(running)
            size, _, _ = pipe.execute()
        return int(size)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
