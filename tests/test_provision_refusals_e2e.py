"""Provisioning one user when the PBX refuses, a sync holds the lock, user sync is off, or the
input is wrong; and the user picker. Over real HTTP, as in tests/test_provision_e2e.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from core.engine.lock import FencedLock
from tests.conftest import Control
from tests.stack import Stack
from tests.test_provision_e2e import (
    extensions,
    linked_user,
    links,
    new_user,
    patch,
    provision,
    restoring,
    steps,
    synced_quietly,
    take,
)


@pytest.fixture(scope="module")
def stack(redis_server: Any) -> Iterator[Stack]:
    yield from synced_quietly(redis_server.url)


@pytest.fixture
def pbx_control(stack: Stack) -> Iterator[Control]:
    yield from restoring(stack)


def test_a_full_pbx_refuses_the_extension_and_says_why(stack: Stack,
                                                       pbx_control: Control) -> None:
    pbx_control.post("config", {"capacity": len(extensions(stack))})
    user = new_user(stack, "Cap", "Acity")

    answer = provision(stack, user["id"]).json()

    assert answer["result"]["outcome"] == "refused" and answer["result"]["extension"] is None
    assert "no free extension capacity" in answer["result"]["summary"]
    told = steps(answer)
    assert told["write"]["outcome"] == "failed"
    assert told["write"]["detail"].startswith("extension/create → errcode 60002")
    assert told["link"]["outcome"] == "skipped" and user["id"] not in links(stack)


def test_a_pbx_error_on_update_is_a_failed_write_with_its_errcode(
        stack: Stack, pbx_control: Control) -> None:
    user = take(linked_user(stack))
    with stack.sandbox.graph_store.lock:
        stack.sandbox.graph_store.put_user(user | {"jobTitle": "Refused Title"})
    pbx_control.fault(path="/openapi/v1.0/extension/update", status=200, errcode=40002)

    answer = provision(stack, user["id"]).json()

    assert answer["result"]["outcome"] == "refused"
    assert steps(answer)["write"]["outcome"] == "failed"
    assert "extension/update (job title) → errcode 40002 PARAMETER ERROR" in steps(answer)["write"]["detail"]


def test_an_unknown_user_is_404_and_a_missing_id_is_400(stack: Stack) -> None:
    assert provision(stack, "00000000-0000-0000-0000-000000000000").status_code == 404
    assert provision(stack, "00000000-0000-0000-0000-000000000000").json() == {
        "error": "no such user in Entra ID"}
    assert provision(stack, None).status_code == 400
    assert provision(stack, "../groups").status_code == 400


def test_a_sync_holding_the_lock_makes_provisioning_wait_then_409(stack: Stack) -> None:
    user = new_user(stack, "Bea", "Busy")
    state = stack.app.extensions["state"]
    lock = FencedLock(stack.redis, state.keys.sync_lock(), ttl=30)
    with lock.held(wait=1) as held:
        assert held
        started = time.monotonic()
        busy = provision(stack, user["id"])
        waited = time.monotonic() - started
    assert busy.status_code == 409 and 4.5 <= waited < 15
    assert busy.json() == {"error": "a sync is running; try again when it ends", "reason": "busy"}
    assert user["id"] not in links(stack)

    assert lock.acquire(wait=1)
    threading.Timer(1.0, lock.release).start()  # a sync that ends within the wait
    assert provision(stack, user["id"]).json()["result"]["outcome"] == "created"


def test_the_picker_finds_users_by_the_start_of_their_name_or_email(stack: Stack) -> None:
    quoted = new_user(stack, "Quinn", "O'Brien")
    synced = linked_user(stack)
    number = links(stack)[synced["id"]].number

    by_name = stack.api("GET", "/api/provision/users?q=quinn o'b").json()["users"]
    first = stack.api("GET", "/api/provision/users").json()["users"]
    by_mail = stack.api("GET", f"/api/provision/users?q={synced['mail'][:-3]}").json()["users"]

    assert [u["id"] for u in by_name] == [quoted["id"]]
    assert by_name[0] == {"id": quoted["id"], "name": "Quinn O'Brien",
                          "upn": quoted["userPrincipalName"], "mail": quoted["mail"],
                          "linked_extension": None}
    assert len(first) == min(25, len(stack.sandbox.graph_store.users.items))
    assert {"id": synced["id"], "linked_extension": number} in [
        {"id": u["id"], "linked_extension": u["linked_extension"]} for u in by_mail]


def test_provisioning_is_refused_while_user_sync_is_off(stack: Stack) -> None:
    user = new_user(stack, "Ola", "Off")
    assert patch(stack, {"enabled": False}).ok

    refused = provision(stack, user["id"])

    assert refused.status_code == 409 and refused.json()["reason"] == "off"
    assert user["id"] not in links(stack)
