"""Presence preferences belong to the Entra user, not to the extension number: a recycled
number never carries its old owner's map, and number-keyed entries from before move over."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import requests
from dramatiq.brokers.stub import StubBroker

from core.config import Settings
from core.graph.records import Presence
from core.presence.plan import DEFAULT_MAP, plan_presence
from core.presence.subscription import covered_users
from core.store.redis import StateStore
from core.store.stub import stub_store
from core.users.records import Link
from sandbox.serve import ServedApp
from webhook import create_app

ADA, BOB = "0c7e5d2a-1111-4c6e-9d3a-5b1f0a7e2c01", "9f4b8e1d-2222-4a7b-8c6d-3e2f1a0b9c02"
QUIET = {"enabled": False, "map": {}}
TRIP = {"enabled": True, "map": {"Busy": "business_trip"}}
TOKEN = "presence-prefs-admin-token-Hq4Zt8Wn2Xr6"
SETTINGS = {"SECRET_KEY": "presence-prefs-key-Vb7Nc2Xm9Lq4Rt1Wz6Ps3Kd",
            "ADMIN_TOKEN": TOKEN, "PBX_BASE_URL": "http://127.0.0.1:1",
            "PBX_CLIENT_ID": "id", "PBX_CLIENT_SECRET": "secret"}


def raw_preferences(state: StateStore) -> dict[str, Any]:
    stored = state.redis.hgetall(state.keys.presence("preferences"))
    return {k.decode(): json.loads(v) for k, v in stored.items()}


def test_a_preference_is_kept_under_the_users_object_id() -> None:
    state = stub_store()
    state.put_link(Link(ADA, 11, "1001", "Ada"))

    state.set_presence_preference(ADA, QUIET)

    assert raw_preferences(state) == {ADA: QUIET}
    assert state.presence_preference(ADA) == QUIET
    assert state.presence_preference(BOB) is None
    assert ADA not in covered_users(state)


def test_the_next_owner_of_a_number_does_not_inherit_the_old_owners_preference() -> None:
    state = stub_store()
    state.put_link(Link(ADA, 11, "1001", "Ada"))
    state.set_presence_preference(ADA, QUIET)
    state.drop_link(ADA)  # Ada left; her number goes to Bob
    state.put_link(Link(BOB, 12, "1001", "Bob"))

    updates = plan_presence([Presence(BOB, "Busy")], {BOB: (12, "1001")},
                            state.presence_preferences(), {})

    assert [u.status for u in updates] == [DEFAULT_MAP["Busy"]]
    assert BOB in covered_users(state)


def test_number_keyed_entries_move_to_the_user_linked_to_that_number_now() -> None:
    state = stub_store()
    state.put_link(Link(ADA, 11, "1001", "Ada"))
    state.put_link(Link(BOB, 12, "1002", "Bob"))
    state.set_presence_preference(BOB, TRIP)
    key = state.keys.presence("preferences")
    state.redis.hset(key, mapping={"1001": json.dumps(QUIET),  # Ada's, from before
                                   "1002": json.dumps(QUIET),  # older than Bob's own
                                   "1003": json.dumps(QUIET)})  # nobody's now

    preferences = state.presence_preferences()

    assert preferences == {ADA: QUIET, BOB: TRIP}
    assert raw_preferences(state) == {ADA: QUIET, BOB: TRIP}


def test_a_number_keyed_entry_of_a_user_being_created_follows_that_user() -> None:
    state = stub_store()
    state.mark_pending(ADA, "1001")
    state.redis.hset(state.keys.presence("preferences"), "1001", json.dumps(QUIET))

    assert state.presence_preferences() == {ADA: QUIET}


def test_preferences_of_users_no_longer_synced_are_dropped_but_not_during_a_sync_run() -> None:
    state = stub_store()
    for user_id, number in ((ADA, "1001"), (BOB, "1002")):
        state.put_link(Link(user_id, int(number), number))
        state.set_presence_preference(user_id, QUIET)
    state.drop_link(ADA)
    state.redis.set(state.keys.sync_lock(), "1:run")  # a run may be re-creating her extension

    during = state.prune_presence_preferences()
    state.redis.delete(state.keys.sync_lock())
    after = state.prune_presence_preferences()

    assert during == [] and after == [ADA]
    assert raw_preferences(state) == {BOB: QUIET}


def test_forgetting_the_tenant_forgets_its_users_preferences() -> None:
    state = stub_store()
    state.set_presence_preference(ADA, QUIET)

    state.forget_tenant()

    assert raw_preferences(state) == {}


@pytest.fixture
def served() -> Iterator[tuple[str, StateStore]]:
    broker = StubBroker()
    broker.declare_queue("default")
    app = create_app(Settings.from_env(SETTINGS), redis_client=fakeredis.FakeRedis(),
                     broker=broker)
    server = ServedApp(app)
    try:
        yield server.url, app.extensions["state"]
    finally:
        server.stop()


def api(url: str, method: str, path: str, body: Any = None) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, f"{url}{path}", json=body, timeout=10,
                               headers={"Authorization": f"Bearer {TOKEN}"})


def test_the_api_reads_and_writes_the_preference_of_the_user_linked_to_the_number(
        served: tuple[str, StateStore]) -> None:
    url, state = served
    state.put_link(Link(ADA, 11, "1001", "Ada"))

    saved = api(url, "PUT", "/api/extensions/1001/presence", TRIP)
    state.drop_link(ADA)
    state.put_link(Link(BOB, 12, "1001", "Bob"))
    recycled = api(url, "GET", "/api/extensions/1001/presence")

    assert saved.status_code == 200 and saved.json()["map"]["Busy"] == "business_trip"
    assert ADA in raw_preferences(state)
    assert recycled.status_code == 200
    assert recycled.json() == {"enabled": True, "map": DEFAULT_MAP}


def test_the_api_reads_a_number_keyed_entry_from_before_as_its_users(
        served: tuple[str, StateStore]) -> None:
    url, state = served
    state.put_link(Link(ADA, 11, "1001", "Ada"))
    state.redis.hset(state.keys.presence("preferences"), "1001", json.dumps(TRIP))

    shown = api(url, "GET", "/api/extensions/1001/presence")
    unknown = api(url, "GET", "/api/extensions/1009/presence")

    assert shown.json()["map"]["Busy"] == "business_trip"
    assert raw_preferences(state) == {ADA: TRIP}
    assert unknown.status_code == 404
