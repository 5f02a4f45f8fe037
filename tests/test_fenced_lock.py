"""The fenced sync lock against a real redis-server: renewals, outages, data loss, tokens."""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core.engine.lock import FencedLock, LockLost
from sandbox.redis_server import RedisServer, free_port


def client(url: str) -> redis.Redis:
    # A short socket timeout, so an unresponsive Redis shows up as errors in the heartbeat.
    return redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)


@pytest.fixture
def name() -> str:
    return f"eps:test:lock:{uuid.uuid4().hex}"


@pytest.fixture
def admin(redis_server: Any) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server.url)
    yield connection
    connection.close()


@pytest.fixture
def locks(redis_server: Any, name: str) -> Iterator[list[FencedLock]]:
    """Two locks on one name, each with its own connection; both released afterwards."""
    made = [FencedLock(client(redis_server.url), name, ttl=1.5) for _ in range(2)]
    yield made
    for lock in made:
        lock.release()
        lock.client.close()


def test_second_lock_waits_in_vain_while_the_first_is_renewed_past_several_ttls(
        locks: list[FencedLock]) -> None:
    first, second = locks
    assert first.acquire(wait=0)
    started = time.monotonic()
    assert not second.acquire(wait=4.5)  # three TTLs: only renewals keep the first one's key
    assert time.monotonic() - started >= 4.5
    first.check()
    first.release()
    assert second.acquire(wait=0)


def test_flushall_mid_hold_loses_the_lock_and_the_old_release_spares_the_new_holder(
        locks: list[FencedLock], admin: redis.Redis, name: str) -> None:
    first, second = locks
    assert first.acquire(wait=0)
    admin.flushall()
    with pytest.raises(LockLost, match="lost the sync lock"):
        first.check()  # the local lease is still young: only the GET can tell
    assert second.acquire(wait=0)
    with pytest.raises(LockLost, match="lost the sync lock"):
        first.check()
    first.release()  # compare-and-delete: the key now holds the second one's value
    assert admin.exists(name)
    second.check()


def test_a_pause_shorter_than_the_ttl_keeps_the_lock(
        redis_server: Any, admin: redis.Redis, name: str, caplog: pytest.LogCaptureFixture) -> None:
    first = FencedLock(client(redis_server.url), name, ttl=3.0)
    second = FencedLock(client(redis_server.url), name, ttl=3.0)
    try:
        with caplog.at_level(logging.WARNING, logger="lock"):
            taken = time.monotonic()
            assert first.acquire(wait=0)
            time.sleep(0.8)
            # Every client stalls from 0.8 s to 1.8 s, the key keeps its data and its TTL runs on:
            # the renewal due at 1 s times out, and is retried until Redis answers again.
            admin.execute_command("CLIENT", "PAUSE", 1000, "ALL")
            paused = time.monotonic()
            first.check()  # waits out the pause instead of failing
            assert time.monotonic() - paused >= 0.5
            time.sleep(max(0.0, 3.6 - (time.monotonic() - taken)))
        # Past 3 s: had renewals stopped at the first error, the key would have expired by now.
        first.check()
        assert admin.pttl(name) > 0
        assert not second.acquire(wait=0.3)
        assert any("renewal failed" in record.getMessage() for record in caplog.records)
    finally:
        for lock in (first, second):
            lock.release()
            lock.client.close()


def test_redis_restart_without_the_key_loses_the_lock_before_a_second_holder_can_write(
        name: str, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    server = RedisServer(port=port)
    url = server.url
    first = FencedLock(client(url), name, ttl=1.5)
    second = FencedLock(client(url), name, ttl=1.5)
    try:
        assert first.acquire(wait=0)
        server.stop()
        started = time.monotonic()
        with pytest.raises(LockLost, match="not renewed"):
            first.check()  # Redis unreachable: retried until the local lease runs out
        assert 0.5 <= time.monotonic() - started <= 1.5 + 0.5
        time.sleep(max(0.0, 3.0 - (time.monotonic() - started)))
        with caplog.at_level(logging.WARNING, logger="lock"):
            server = RedisServer(port=port)  # no persistence: the key is gone
            with pytest.raises(LockLost, match="lost the sync lock"):
                first.check()
            # The heartbeat kept trying through 3 s of errors, so it is there to see the loss.
            deadline = time.monotonic() + 1.0
            while not any("lost" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert any("lost" in r.getMessage() for r in caplog.records)
        assert second.acquire(wait=0)
        with pytest.raises(LockLost, match="lost the sync lock"):
            first.check()
        first.release()
        second.check()
    finally:
        for lock in (first, second):
            lock.release()
            lock.client.close()
        server.stop()


def test_quick_restart_loses_the_lock_though_the_local_lease_is_young(name: str) -> None:
    port = free_port()
    server = RedisServer(port=port)
    first = FencedLock(client(server.url), name, ttl=5.0)
    try:
        assert first.acquire(wait=0)
        server.stop()
        server = RedisServer(port=port)
        with pytest.raises(LockLost, match="lost the sync lock"):
            first.check()  # 5 s lease, a few ms old: the GET finds the key gone
    finally:
        first.release()
        first.client.close()
        server.stop()


def test_fencing_tokens_strictly_increase_across_acquisitions(
        locks: list[FencedLock]) -> None:
    tokens = []
    for turn in range(6):
        lock = locks[turn % 2]
        with lock.held(wait=1) as ok:
            assert ok
            assert lock.token is not None
            tokens.append(lock.token)
    assert all(earlier < later for earlier, later in itertools.pairwise(tokens))


def test_a_fenced_hset_is_written_while_the_lock_is_held_and_never_after(
        locks: list[FencedLock], admin: redis.Redis, name: str) -> None:
    first, second = locks
    assert first.acquire(wait=1)
    pending = f"{name}:pending"

    first.check_and_hset(pending, "user-1", "1001")
    admin.delete(name)  # lost: taken away mid-run
    assert second.acquire(wait=1)
    with pytest.raises(LockLost):
        first.check_and_hset(pending, "user-2", "1002")

    assert admin.hgetall(pending) == {b"user-1": b"1001"}
