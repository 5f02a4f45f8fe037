"""Process-level recovery: a worker SIGKILLed mid-run, Redis restarted or flushed mid-run.

Real redis-server, real `dramatiq` worker processes, the web app on a real port, the sandbox.
The PBX simulator's latency fault (HTTP 200 after `latency_ms`) keeps a run mid-way long
enough to act on it.

A killed worker's unacked message comes back only when the Redis broker's upkeep finds the
worker dead; with Dramatiq's defaults that is 60 s without a heartbeat and then a 1-in-1000
chance per fetch (many minutes). These tests give the product RECOVERY seconds, so a worker
must be configured to notice a dead worker's messages much sooner.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from core.clients import graph_client
from sandbox.redis_server import RedisServer
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.conftest import Control
from tests.stack import Stack, wait_for

RECOVERY = 90  # seconds from the new worker's start to the end of the recovered work: the dead
# worker's lock runs out first (its 30 s lease), then the work is done, on two busy cores
FINISHED = ("succeeded", "partial", "failed", "blocked")
CREATE, UPDATE, DELETE = (f"/openapi/v1.0/extension/{verb}" for verb in ("create", "update",
                                                                          "delete"))


# setup ------------------------------------------------------------------------------------
@contextmanager
def running_stack(redis_url: str, *, users: int) -> Iterator[Stack]:
    """A stack on `redis_url` with `users` seeded; its workers are SIGKILLed at the end, since
    a SIGTERMed worker would first finish a slow run."""
    with Sandbox() as sandbox:
        seed_tenant(sandbox.graph_store, users)
        client = redis.Redis.from_url(redis_url)
        client.flushdb()
        stack = Stack(sandbox, redis_url, window=2)
        try:
            yield stack
        finally:
            for worker in list(stack.workers):
                stack.kill(worker)
            stack.stop()
            client.flushdb()
            client.close()


class RestartableRedis:
    """A redis-server of the test's own, restarted on the same port with nothing kept."""

    def __init__(self) -> None:
        self.server = RedisServer()
        self.url = self.server.url

    def restart(self) -> None:
        port = self.server.port
        self.server.stop()
        self.server = RedisServer(port=port)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def own_redis() -> Iterator[RestartableRedis]:
    server = RestartableRedis()
    try:
        yield server
    finally:
        server.stop()


def pbx(stack: Stack) -> Control:
    return Control(stack.sandbox.pbx.url)


def slow(stack: Stack, path: str, ms: int = 300) -> None:
    """Every request under `path` answers normally, `ms` late (status 200: latency only)."""
    pbx(stack).fault(path=path, status=200, latency_ms=ms, count=10_000)


def fast(stack: Stack) -> None:
    answer = pbx(stack).session.delete(f"{stack.sandbox.pbx.url}/_sandbox/faults", timeout=10)
    assert answer.status_code == 204


def requests_to(stack: Stack, path: str) -> int:
    return sum(n for key, n in pbx(stack).counts().items() if key.split(" ", 1)[1] == path)


def record(stack: Stack, run_id: str) -> dict[str, Any] | None:
    answer = stack.api("GET", f"/api/runs/{run_id}")
    return dict(answer.json()) if answer.status_code == 200 else None


def finished(stack: Stack, run_id: str, timeout: float) -> dict[str, Any]:
    """The run's record once it has finished; on timeout, say what it last looked like."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = record(stack, run_id)
        if last and last["state"] in FINISHED:
            return last
        time.sleep(0.3)
    brief = {k: last.get(k) for k in ("state", "error", "summary")} if last else None
    raise AssertionError(f"run {run_id} did not finish within {timeout} s; last seen: {brief}")


def eventually(check: Callable[[], Any], timeout: float, explain: Callable[[], str]) -> None:
    """Wait for `check`; on timeout, fail with what `explain` says then."""
    try:
        wait_for(check, timeout=timeout, what="")
    except AssertionError:
        raise AssertionError(f"not so after {timeout} s: {explain()}") from None


def start(stack: Stack, users_settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """A worker, the tenant connected, user sync first saved; the first run's record."""
    stack.start_worker()
    stack.connect()
    answer = stack.api("PATCH", "/api/settings",
                       {"users": {"enabled": True} | (users_settings or {})})
    assert answer.status_code == 200 and answer.json().get("run_id"), answer.text
    return finished(stack, answer.json()["run_id"], 60)


def slow_first_sync(stack: Stack) -> str:
    """Creates 300 ms each; the first save's run id once it has created some extensions."""
    stack.start_worker()
    stack.connect()
    slow(stack, CREATE)
    run_id = stack.api("PATCH", "/api/settings", {"users": {"enabled": True}}).json()["run_id"]
    wait_for(lambda: len(stack.sandbox.pbx_store.extensions) >= 8, timeout=30,
             what="the first extensions")
    return str(run_id)


def email_of(user: dict[str, Any]) -> str:
    return str(user.get("mail") or user["userPrincipalName"]).lower()


def extension_of(stack: Stack, user: dict[str, Any]) -> dict[str, Any] | None:
    ext_id = stack.sandbox.pbx_store.extensions.by_email.get(email_of(user))
    return None if ext_id is None else stack.sandbox.pbx_store.extensions.get(ext_id)


def wanted(stack: Stack) -> list[dict[str, Any]]:
    return [u for u in stack.sandbox.graph_store.users.items.values() if u["accountEnabled"]]


def assert_one_extension_per_user(stack: Stack) -> None:
    extensions = list(stack.sandbox.pbx_store.extensions.values())
    emails = Counter(str(e["email_addr"]).lower() for e in extensions)
    numbers = Counter(str(e["number"]) for e in extensions)
    assert [e for e, n in emails.items() if n > 1] == []
    assert [n for n, k in numbers.items() if k > 1] == []
    missing = [email_of(u) for u in wanted(stack) if email_of(u) not in emails]
    assert missing == [] and len(extensions) == len(wanted(stack))


def running_run(stack: Stack, trigger: str) -> str | None:
    return next((r["id"] for r in stack.runs()
                 if r["trigger"] == trigger and r["state"] == "running"), None)


# a worker SIGKILLed mid-run ---------------------------------------------------------------
def test_changes_a_killed_worker_was_syncing_reach_the_pbx_with_a_new_worker(
        redis_server: Any) -> None:
    with running_stack(redis_server.url, users=20) as stack:
        start(stack)
        users = [u for u in wanted(stack) if u["userType"] == "Member"][:8]
        slow(stack, UPDATE, ms=600)
        graph = graph_client(stack.settings, **stack.credentials)

        for user in users:
            graph.request("PATCH", f"users/{user['id']}", json={"jobTitle": "Survivor"})
        dead_run = wait_for(lambda: running_run(stack, "changes:users"), timeout=30,
                            what="the incremental run to be running")
        wait_for(lambda: requests_to(stack, UPDATE) >= 1, timeout=30, what="its first update")
        stack.kill(stack.workers[0])
        fast(stack)
        stack.start_worker()

        def titles() -> list[Any]:
            return [(extension_of(stack, u) or {}).get("title") for u in users]

        eventually(lambda: set(titles()) == {"Survivor"}, RECOVERY,
                   lambda: f"the changed users' titles on the PBX are {titles()}")
        status = stack.api("GET", "/api/status").json()
        dead = record(stack, dead_run) or {}
        assert dead_run in status.get("interrupted_runs", []) or (
            dead.get("state") == "failed" and "interrupt" in str(dead.get("error")).lower())


def test_a_manual_run_whose_worker_was_killed_resumes_and_succeeds(redis_server: Any) -> None:
    with running_stack(redis_server.url, users=40) as stack:
        start(stack, {"range": "types", "user_types": ["Guest"]})  # a first save of few users
        widened = stack.api("PATCH", "/api/settings", {"users": {"range": "all"}})
        assert widened.status_code == 200 and not widened.json().get("run_id")
        before = len(stack.sandbox.pbx_store.extensions)
        slow(stack, CREATE)

        run_id = stack.api("POST", "/api/sync", {"scope": "users"}).json()["run_id"]
        wait_for(lambda: len(stack.sandbox.pbx_store.extensions) >= before + 8
                 and (record(stack, run_id) or {}).get("state") == "running", timeout=30,
                 what="the manual run mid-way")
        stack.kill(stack.workers[0])
        fast(stack)
        stack.start_worker()

        run = finished(stack, run_id, RECOVERY)
        assert run["state"] == "succeeded", run.get("summary")
        assert_one_extension_per_user(stack)


def test_a_disconnect_whose_worker_was_killed_finishes_deleting(redis_server: Any) -> None:
    with running_stack(redis_server.url, users=40) as stack:
        start(stack)
        synced = set(stack.sandbox.pbx_store.extensions)
        slow(stack, DELETE)

        answer = stack.api("POST", "/api/integration/disconnect", {"delete_extensions": True})
        run_id = answer.json()["run_id"]
        wait_for(lambda: len(synced & set(stack.sandbox.pbx_store.extensions))
                 <= len(synced) - 8, timeout=30, what="the first deletions")
        stack.kill(stack.workers[0])
        fast(stack)
        stack.start_worker()

        run = finished(stack, run_id, RECOVERY)
        assert run["state"] == "succeeded", run.get("summary")
        assert synced & set(stack.sandbox.pbx_store.extensions) == set()
        assert stack.api("GET", "/api/status").json()["state"] == "disconnected"


# Redis losing its state mid-run ---------------------------------------------------------
def reconnect_and_sync(stack: Stack) -> list[str]:
    """After Redis lost everything: connect and save the settings again, and ask for a sync."""
    assert stack.api("PUT", "/api/connection", stack.credentials).status_code == 200
    saved = stack.api("PATCH", "/api/settings", {"users": {"enabled": True},
                                                  "schedule": {"timezone": "UTC"}})
    assert saved.status_code == 200, saved.text
    asked = stack.api("POST", "/api/sync", {"scope": "users"})
    assert asked.status_code == 202, asked.text
    return [i for i in (saved.json().get("run_id"), asked.json()["run_id"]) if i]


def assert_stopped_or_gone(stack: Stack, run_id: str) -> None:
    """A run that lost the lock with Redis' state: its record is gone, or says why it failed."""
    first = record(stack, run_id)
    assert first is None or (first["state"] == "failed"
                             and "lost the sync lock" in str(first.get("error"))), first


def test_after_a_redis_restart_mid_run_two_runs_never_write_at_once(
        own_redis: RestartableRedis) -> None:
    with running_stack(own_redis.url, users=60) as stack:
        first = slow_first_sync(stack)

        own_redis.restart()
        later = reconnect_and_sync(stack)
        for run_id in later:
            finished(stack, run_id, 75)

        # Two runs writing at once plan the same users: the slower one's creates are refused
        # as duplicates. One writer at a time: every create makes an extension.
        creates, made = requests_to(stack, CREATE), len(stack.sandbox.pbx_store.extensions)
        assert creates == made, f"{creates} extension creates for {made} extensions"
        assert_one_extension_per_user(stack)
        assert_stopped_or_gone(stack, first)


def test_a_flushall_mid_run_stops_its_writes(redis_server: Any) -> None:
    with running_stack(redis_server.url, users=40) as stack:
        first = slow_first_sync(stack)

        stack.redis.flushall()
        at_flush = requests_to(stack, CREATE)
        time.sleep(2.5)  # about eight creates' worth at 300 ms each

        late = requests_to(stack, CREATE) - at_flush
        assert late <= 1, f"{late} extension creates reached the PBX after the flush"
        assert_stopped_or_gone(stack, first)
