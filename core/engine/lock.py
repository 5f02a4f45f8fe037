"""The one sync lock: a Redis key with a fencing token, renewed by a heartbeat, checked before writes.

A run calls `check()` before every PBX write; it raises `LockLost` once the lock may belong to
someone else. Known limit: a PBX write already in flight when the lock is lost completes; the
next one is not sent. The fence counter lives in the same Redis, so a restart without
persistence or a FLUSHALL starts the tokens again from 1.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import redis

log = logging.getLogger("lock")
RETRY = 0.2  # seconds between tries while Redis does not answer

# Take the lock and the next fencing token in one step, so a busy poll burns no token.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local value = redis.call('INCR', KEYS[2]) .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value
"""
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
_DELETE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""
_HSET_IF_HELD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


# Not a SyncError on purpose: apply code catches those per operation, and this must stop the run.
class LockLost(Exception):
    """The run no longer owns the sync lock and must stop before its next write."""


class FencedLock:
    """A lease on `name` that a heartbeat renews every ttl/3 and `check()` verifies."""

    def __init__(self, client: redis.Redis, name: str, *, ttl: float = 30.0) -> None:
        self.client = client
        self.name = name
        self.ttl = ttl
        self.token: int | None = None
        self._value: str | None = None
        self._renewed_at = float("-inf")
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._take = client.register_script(_TAKE)
        self._renew = client.register_script(_RENEW)
        self._delete = client.register_script(_DELETE)
        self._hset_if_held = client.register_script(_HSET_IF_HELD)

    def acquire(self, wait: float) -> bool:
        """Take the lock, polling for up to `wait` seconds; start the heartbeat on success."""
        deadline = time.monotonic() + wait
        while True:
            started = time.monotonic()
            value = self._take(keys=[self.name, f"{self.name}:fence"],
                               args=[uuid.uuid4().hex, int(self.ttl * 1000)])
            if value is not None:
                break
            if started >= deadline:
                return False
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        self._value = _text(value)
        self.token = int(self._value.partition(":")[0])
        self._renewed_at = started  # the lease began no later than the request was sent
        # Fresh events per hold, passed in, so a late thread of an old hold cannot touch this one.
        self._lost, self._stop = threading.Event(), threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, args=(self._value, self._stop, self._lost),
                                      name="sync-lock-heartbeat", daemon=True)
        self._beat.start()
        return True

    def check(self) -> None:
        """Raise LockLost unless the lease is alive here and Redis still holds our value."""
        self._verify(lambda: _is(self.client.get(self.name), self._value))

    def check_and_hset(self, key: str, field: str, value: str) -> None:
        """`check()`, and in the same round trip set `field` of the hash `key` to `value`,
        only while Redis holds our value: a write that is fenced and costs no more than the
        check (a user sync marks each pending create this way)."""
        self._verify(lambda: bool(self._hset_if_held(keys=[self.name, key],
                                                      args=[str(self._value), field, value])))

    def _verify(self, held_in_redis: Callable[[], bool]) -> None:
        while True:
            if self._lost.is_set():
                raise LockLost(f"lost the sync lock {self.name}: another holder or none in Redis")
            # A margin of a third of the lease: a write sent now still lands before it could expire.
            if time.monotonic() - self._renewed_at >= self.ttl * 2 / 3:
                raise LockLost(f"lost the sync lock {self.name}: not renewed within "
                               f"{self.ttl * 2 / 3:g} s")
            try:
                held = held_in_redis()
            except redis.RedisError:
                time.sleep(RETRY)  # transient, perhaps: the local lease still bounds the wait
                continue
            if not held:
                raise LockLost(f"lost the sync lock {self.name}: Redis holds another value or none")
            return

    def release(self) -> None:
        """Stop the heartbeat and delete the key if it is still ours; Redis errors are ignored."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=self.ttl)
        if self._value is not None:
            with suppress(redis.RedisError):  # unreachable: the key expires on its own
                self._delete(keys=[self.name], args=[self._value])
        self._value, self._beat, self._renewed_at = None, None, float("-inf")

    @contextmanager
    def held(self, wait: float = 30.0) -> Iterator[bool]:
        """Yield whether the lock was taken within `wait`; always stop the heartbeat and release."""
        try:
            yield self.acquire(wait)
        finally:
            self.release()

    def _heartbeat(self, value: str, stop: threading.Event, lost: threading.Event) -> None:
        pause, failing = self.ttl / 3, False
        while not stop.wait(pause):
            started = time.monotonic()
            try:
                renewed = self._renew(keys=[self.name], args=[value, int(self.ttl * 1000)])
            except redis.RedisError as exc:
                if not failing:
                    log.warning("sync lock renewal failed, retrying: %s", exc)
                # Keep trying, and sooner: `check()` decides when the lease has run out.
                pause, failing = min(RETRY, self.ttl / 3), True
                continue
            if not renewed:
                log.warning("sync lock %s lost: the key is gone or another holder has it", self.name)
                lost.set()
                return
            self._renewed_at, pause, failing = started, self.ttl / 3, False


def _is(found: bytes | str | None, value: str | None) -> bool:
    return found is not None and _text(found) == value


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
