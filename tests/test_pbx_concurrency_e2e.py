"""Concurrent PBX I/O over real HTTP: the simulator served threaded, its latency and 5xx faults,
state in a real redis-server."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from core.clients import graph_client, pbx_client, sandbox_environment
from core.config import Settings
from core.contacts.sync import ContactSync
from core.engine.engine import Context, run_here
from core.engine.lock import FencedLock, LockLost
from core.engine.outcome import Outcome
from core.graph.client import GraphClient
from core.groups.sync import GroupSync
from core.pbx.client import PbxClient
from core.pbx.concurrency import AdaptiveLimit, run_bounded
from core.store.redis import StateStore
from core.store.stub import stub_store
from core.sync_settings import merge
from core.users.apply import apply
from core.users.directory import read_directory
from core.users.plan import desired_state, plan
from core.users.provision import provision
from core.users.records import Operation
from core.users.sync import UserSync, read_pbx
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.conftest import Control

LATENCY_MS = 50
WRITES = ("POST /openapi/v1.0/extension/create", "POST /openapi/v1.0/extension/update",
          "GET /openapi/v1.0/extension/delete")


class RecordedUserSync(UserSync):
    """User sync that keeps its apply's outcome, where the width it ran at is recorded."""

    outcome: Outcome

    def apply(self, ops: Sequence[Operation], ctx: Context) -> Outcome:
        self.outcome = super().apply(ops, ctx)
        return self.outcome


def set_width(state: StateStore, width: int) -> None:
    document = state.settings()
    document["performance"] = {"pbx_concurrency": width}
    state.save_settings(document)


def clients_of(sandbox: Sandbox) -> tuple[GraphClient, PbxClient]:
    key = "concurrency-e2e-Vn2Xq7Kw4Lz9Rd1Tm6Hs3Bp8Jc"
    env = sandbox_environment(sandbox.describe()) | {"SECRET_KEY": key}
    settings = Settings.from_env(env)
    graph, pbx = graph_client(settings), pbx_client(settings)
    graph.transport.backoff = pbx.transport.backoff = 0.01
    return graph, pbx


def end_state(pbx: PbxClient) -> dict[str, tuple[str, str, str, str]]:
    """Every extension by email: its number, names and title."""
    details = pbx.extension_details([e.id for e in pbx.extensions()], limit=AdaptiveLimit(8))
    return {e.email_addr: (e.number, e.first_name, e.last_name, e.title) for e in details}


def writes(counts: dict[str, int]) -> int:
    return sum(counts.get(path, 0) for path in WRITES)


@pytest.fixture
def other() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def test_a_cold_sync_at_width_4_takes_well_under_the_sequential_time_and_ends_as_width_1(
        sandbox: Sandbox, other: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        pbx_control: Control) -> None:
    seed_tenant(sandbox.graph_store, 200)
    seed_tenant(other.graph_store, 200)
    set_width(state, 4)
    pbx_control.fault(path="/openapi", status=200, latency_ms=LATENCY_MS, count=10**6)
    pbx_control.session.delete(f"{pbx_control.base_url}/_sandbox/requests", timeout=10)

    started = time.monotonic()
    run = run_here([UserSync()], graph=graph, pbx=pbx, store=state)
    elapsed = time.monotonic() - started
    requests = sum(pbx_control.counts().values())
    writes_after_first = writes(pbx_control.counts())
    again = run_here([UserSync()], graph=graph, pbx=pbx, store=state)

    sequential = stub_store()  # the same tenant, one request at a time, without latency
    set_width(sequential, 1)
    other_graph, other_pbx = clients_of(other)
    one_at_a_time = run_here([UserSync()], graph=other_graph, pbx=other_pbx, store=sequential)

    assert run["state"] == "succeeded" and run["counts"]["created"] > 150
    assert requests > run["counts"]["created"]
    assert elapsed < 0.6 * requests * LATENCY_MS / 1000, (elapsed, requests)
    numbers = Counter(ext["number"] for ext in sandbox.pbx_store.extensions.values())
    assert max(numbers.values()) == 1 and len(numbers) == run["counts"]["created"]
    assert len(state.user_links()) == run["counts"]["created"] and not state.pending_creates()
    assert again["counts"] == dict.fromkeys(again["counts"], 0)
    assert writes(pbx_control.counts()) == writes_after_first
    assert one_at_a_time["counts"] == run["counts"]
    assert end_state(pbx) == end_state(other_pbx)
    other_pbx.token_source.close()


@pytest.mark.parametrize("fault", [{"status": 503}, {"status": 200, "errcode": 70082}],
                         ids=["http-503", "busy-70082"])
def test_a_5xx_or_busy_answer_halves_the_width_and_the_run_still_completes(
        fault: dict[str, Any], sandbox: Sandbox, graph: GraphClient, pbx: PbxClient,
        state: StateStore, pbx_control: Control) -> None:
    seed_tenant(sandbox.graph_store, 50)
    set_width(state, 4)
    pbx_control.fault(path="/openapi/v1.0/extension/create", skip=5, count=1, **fault)
    part = RecordedUserSync()

    run = run_here([part], graph=graph, pbx=pbx, store=state)

    assert run["state"] == "succeeded" and run["counts"]["failed"] == 0
    assert part.outcome.concurrency["start"] == 4 and part.outcome.concurrency["min"] == 2
    assert len(sandbox.pbx_store.extensions) == run["counts"]["created"] == len(state.user_links())
    assert run_here([UserSync()], graph=graph, pbx=pbx, store=state)["counts"]["created"] == 0


def test_capacity_reached_mid_apply_skips_the_rest_and_records_the_creates_in_flight(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        pbx_control: Control) -> None:
    seed_tenant(sandbox.graph_store, 50)
    set_width(state, 8)
    pbx_control.post("config", {"capacity": 10})

    run = run_here([UserSync()], graph=graph, pbx=pbx, store=state)

    assert run["counts"]["created"] == 10 == len(state.user_links())
    assert run["counts"]["failed"] == 0 and not state.pending_creates()
    assert {s["reason"] for s in run["skipped"]} == {"the PBX has no free extension capacity"}


def test_a_lock_lost_mid_apply_sends_no_more_and_the_next_run_recognises_every_extension(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    seed_tenant(sandbox.graph_store, 60)
    rules = state.settings()["users"]
    desired = desired_state(read_directory(graph, rules), rules)
    ops = plan(desired, read_pbx(pbx, [], set()), {}, pending={})
    calls = [0]

    def before(_op: Operation) -> None:
        calls[0] += 1
        if calls[0] > 20:
            raise LockLost("lost the sync lock")

    with pytest.raises(LockLost):
        apply(ops, pbx, state, now="2026-01-01T00:00:00Z", before=before, width=8)
    on_pbx = {ext["number"] for ext in sandbox.pbx_store.extensions.values()}
    known = ({link.number for link in state.user_links().values()}
             | set(state.pending_creates().values()))
    resumed = run_here([UserSync()], graph=graph, pbx=pbx, store=state)

    assert 0 < len(on_pbx) <= 20 and on_pbx <= known
    assert resumed["counts"]["failed"] == 0
    numbers = Counter(ext["number"] for ext in sandbox.pbx_store.extensions.values())
    assert max(numbers.values()) == 1 and len(state.user_links()) == len(numbers)
    assert not state.pending_creates()


def test_a_create_marked_with_the_lock_check_is_never_sent_once_the_lock_is_lost(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    seed_tenant(sandbox.graph_store, 60)
    rules = state.settings()["users"]
    ops = plan(desired_state(read_directory(graph, rules), rules), read_pbx(pbx, [], set()), {},
               pending={})
    lock = FencedLock(state.redis, state.keys.sync_lock(), ttl=30)
    assert lock.acquire(wait=1)
    marked = itertools.count(1)
    marking = threading.Lock()  # else a 22nd mark may pass its check before the 21st takes
    # the lock away: marks are counted, and the lock taken, in the order they are checked

    def mark_pending(user_id: str, number: str) -> None:
        with marking:
            if next(marked) == 21:
                state.redis.delete(state.keys.sync_lock())  # taken away mid-run
            lock.check_and_hset(*state.pending_mark(user_id, number))

    try:
        with pytest.raises(LockLost):
            apply(ops, pbx, state, now="2026-01-01T00:00:00Z", mark_pending=mark_pending,
                  width=8)
    finally:
        lock.release()
    on_pbx = {ext["number"] for ext in sandbox.pbx_store.extensions.values()}
    known = ({link.number for link in state.user_links().values()}
             | set(state.pending_creates().values()))

    assert 0 < len(on_pbx) <= 20 and on_pbx == known  # no mark without its create, or after


def test_provisioning_a_user_marks_its_create_with_the_lock_check_as_a_sync_does(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    seed_tenant(sandbox.graph_store, 5)
    user = next(u for u in graph.users() if u.account_enabled)
    lock = FencedLock(state.redis, state.keys.sync_lock(), ttl=30)
    assert lock.acquire(wait=1)
    marks: list[tuple[str, str, str]] = []

    def fenced_hset(key: str, field: str, value: str) -> None:
        marks.append((key, field, value))
        lock.check_and_hset(key, field, value)

    try:
        _seen, writes, run = provision(user, graph=graph, pbx=pbx, store=state,
                                       document=state.settings(), fence=lock.check,
                                       fenced_hset=fenced_hset)
    finally:
        lock.release()
    link = state.user_links()[user.id]

    assert run.state == "succeeded" and [w.endpoint for w in writes] == ["extension/create"]
    assert marks == [state.pending_mark(user.id, link.number)]
    assert not state.pending_creates()


def test_a_timed_out_detail_read_halves_the_width_and_is_read_again(
        pbx: PbxClient, pbx_control: Control) -> None:
    def create(n: int) -> int | None:
        return pbx.create_extension({"number": str(2000 + n), "reg_name": str(2000 + n),
                                     "user_password": "Ab3xYz9QkLmN", "reg_password": "Rg7pW2sQ",
                                     "concurrent_registrations": 1,
                                     "presence_status": "available",
                                     "email_addr": f"user{n}@example.com"}, resolve_id=False)

    run_bounded(list(range(250)), create, AdaptiveLimit(8))
    ids = sorted(e.id for e in pbx.extensions())
    pbx.transport.timeout = (5, 0.4)
    pbx_control.fault(path="/openapi/v1.0/extension/query", status=200, latency_ms=1000)
    limit = AdaptiveLimit(4)

    details = pbx.extension_details(ids, limit=limit)

    assert sorted(e.id for e in details) == ids and len(ids) == 250
    assert limit.record()["min"] == 2


def test_requests_in_parallel_on_an_expired_token_renew_it_once(
        sandbox: Sandbox, pbx: PbxClient, pbx_control: Control) -> None:
    list(pbx.extensions())  # a token, then
    pbx_control.advance(1900)  # past the 30-minute access token, on the PBX's clock only
    pbx_control.session.delete(f"{pbx_control.base_url}/_sandbox/requests", timeout=10)

    run_bounded(list(range(32)), lambda _n: list(pbx.extensions()), AdaptiveLimit(16))

    counts = pbx_control.counts()
    renewals = (counts.get("POST /openapi/v1.0/refresh_token", 0)
                + counts.get("POST /openapi/v1.0/get_token", 0))
    assert renewals == 1


def test_groups_and_contacts_apply_side_by_side_and_a_second_run_writes_nothing(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        pbx_control: Control) -> None:
    seed_tenant(sandbox.graph_store, 60)
    set_width(state, 4)
    state.save_settings(merge(state.settings(), {"contacts": {
        "personal": {"enabled": True}, "shared": {"enabled": True}},
        "schedule": {"timezone": "UTC"}}))
    pbx_control.fault(path="/openapi", status=200, latency_ms=10, count=10**6)
    parts = [UserSync(), GroupSync(), ContactSync()]

    first = run_here(parts, graph=graph, pbx=pbx, store=state)
    second = run_here(parts, graph=graph, pbx=pbx, store=state)

    assert first["state"] == "succeeded", first
    assert {name: p["counts"]["created"] > 0 for name, p in first["parts"].items()} == {
        "users": True, "groups": True, "contacts": True}
    assert all(count == 0 for p in second["parts"].values()  # invalid contacts: skipped
               for name, count in p["counts"].items() if name != "skipped"), second
    assert len(sandbox.pbx_store.groups) - 1 == len(state.group_links())  # and the default one
    assert len(sandbox.pbx_store.contacts) == len(state.contact_links())


def test_every_part_runs_at_the_width_the_settings_choose_and_the_run_says_so(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    seed_tenant(sandbox.graph_store, 20)
    set_width(state, 1)
    state.save_settings(merge(state.settings(), {"contacts": {
        "personal": {"enabled": True}, "shared": {"enabled": True}},
        "schedule": {"timezone": "UTC"}}))

    run = run_here([UserSync(), GroupSync(), ContactSync()], graph=graph, pbx=pbx, store=state)

    assert {name: p["pbx_concurrency"] for name, p in run["parts"].items()} == {
        name: {"start": 1, "min": 1, "end": 1} for name in ("users", "groups", "contacts")}
