"""Provisioning one user on demand, over real HTTP: the web app, the sandbox and a real Redis.

One stack for the module, synced once by a real worker, which is then stopped so that no
change-triggered run races the provisioning under test; each test works on users of its own.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from core.clients import pbx_client
from core.pbx.password import generate_password
from core.users.provision import LEFT_TO_SYNC
from tests.conftest import Control
from tests.stack import Stack, synced_stack

WRITES = ("POST /openapi/v1.0/extension/create", "POST /openapi/v1.0/extension/update",
          "GET /openapi/v1.0/extension/delete")
STEPS = ["read", "range", "match", "number", "write", "link"]


def synced_quietly(redis_url: str) -> Iterator[Stack]:
    """A synced stack whose worker is stopped: from then on only provisioning writes."""
    with synced_stack(redis_url, users=24, settings={}) as running:
        for worker in list(running.workers):
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
            running.workers.remove(worker)
        yield running


def restoring(stack: Stack) -> Iterator[Control]:
    """The PBX simulator's control; faults, capacity and the user settings put back after."""
    control = Control(stack.sandbox.pbx.url)
    yield control
    control.session.delete(f"{stack.sandbox.pbx.url}/_sandbox/faults", timeout=10)
    control.post("config", {"capacity": 1000})
    assert patch(stack, {"range": "all", "user_types": ["Member"], "group_ids": [],
                         "numbering": {"mode": "auto"}}).ok


@pytest.fixture(scope="module")
def stack(redis_server: Any) -> Iterator[Stack]:
    yield from synced_quietly(redis_server.url)


@pytest.fixture
def pbx_control(stack: Stack) -> Iterator[Control]:
    yield from restoring(stack)


def patch(stack: Stack, users: dict[str, Any]) -> Any:
    return stack.api("PATCH", "/api/settings", {"users": users})


def new_user(stack: Stack, given: str, surname: str, *, kind: str = "Member",
             mail: str | None = None, title: str = "Analyst") -> dict[str, Any]:
    store = stack.sandbox.graph_store
    nickname = f"{given}.{surname}".lower().replace("'", "")
    upn = f"{nickname}@{store.domain}"
    with store.lock:
        return store.put_user({
            "displayName": f"{given} {surname}", "givenName": given, "surname": surname,
            "userPrincipalName": upn, "mailNickname": nickname, "mail": mail or upn,
            "userType": kind, "accountEnabled": True, "businessPhones": [], "mobilePhone": None,
            "jobTitle": title, "department": None, "officeLocation": None,
            "preferredLanguage": "en-US", "employeeId": None, "companyName": "Contoso",
            "onPremisesExtensionAttributes": {}, "otherMails": [], "usageLocation": "US"},
            change_type="created")


def provision(stack: Stack, user_id: Any) -> Any:
    return stack.api("POST", "/api/provision", {"user_id": user_id})


def steps(answer: dict[str, Any]) -> dict[str, dict[str, str]]:
    assert [s["step"] for s in answer["steps"]] == STEPS
    return {s["step"]: s for s in answer["steps"]}


def extensions(stack: Stack) -> dict[str, dict[str, Any]]:
    with stack.sandbox.pbx_store.lock:
        return {e["number"]: dict(e) for e in stack.sandbox.pbx_store.extensions.values()}


def next_free(stack: Stack) -> str:
    taken = set(extensions(stack)) | {k.number for k in links(stack).values()}
    return str(next(n for n in range(1000, 10**7) if str(n) not in taken))


def links(stack: Stack) -> dict[str, Any]:
    return dict(stack.app.extensions["state"].user_links())


def writes(control: Control) -> int:
    counts = control.counts()
    return sum(counts.get(path, 0) for path in WRITES)


TAKEN: set[str] = set()  # users a test changed: no other test picks them


def linked_user(stack: Stack, kind: str = "Member") -> dict[str, Any]:
    synced = links(stack)
    return next(u for u in stack.sandbox.graph_store.users.items.values()
                if u["id"] in synced and u["userType"] == kind and u["accountEnabled"]
                and u["id"] not in TAKEN)


def take(user: dict[str, Any]) -> dict[str, Any]:
    TAKEN.add(user["id"])
    return user


def test_a_new_user_in_range_gets_the_next_free_extension_with_every_step(
        stack: Stack, pbx_control: Control) -> None:
    user = new_user(stack, "Nadia", "Okonjo")
    number = next_free(stack)

    answer = provision(stack, user["id"])

    assert answer.status_code == 200, answer.text
    body, told = answer.json(), steps(answer.json())
    assert body["user"] == {"id": user["id"], "name": "Nadia Okonjo",
                            "upn": user["userPrincipalName"]}
    assert body["result"]["outcome"] == "created" and body["result"]["extension"] == number
    assert told["range"] == {"step": "range", "outcome": "ok",
                             "detail": "in range: all users are synced"}
    assert told["match"]["detail"].startswith("new: no extension is linked")
    assert told["number"]["detail"] == f"{number}: the next free number from 1000"
    assert told["write"]["outcome"] == "ok"
    assert told["write"]["detail"].startswith("extension/create → errcode 0, id ")
    assert told["link"]["outcome"] == "ok" and number in told["link"]["detail"]
    created = extensions(stack)[number]
    assert (created["email_addr"], created["title"]) == (user["mail"], "Analyst")
    assert links(stack)[user["id"]].number == number
    listed = stack.runs()
    assert any(r["id"] == body["run_id"] and r["trigger"] == "provision"
               and r["counts"]["created"] == 1 for r in listed)
    again = provision(stack, user["id"]).json()
    assert again["result"]["outcome"] == "unchanged"
    assert steps(again)["write"]["outcome"] == "info"
    audited = stack.api("GET", "/api/audit?action=user_provisioned").json()["entries"]
    assert [(e["details"]["outcome"], e["details"]["extension"], e["actor"])
            for e in audited] == [("unchanged", number, "admin token"),
                                  ("created", number, "admin token")]


def test_in_property_mode_the_number_comes_from_the_users_property(
        stack: Stack, pbx_control: Control) -> None:
    assert patch(stack, {"numbering": {"mode": "property", "property": "businessPhones"}}).ok
    user = new_user(stack, "Pia", "Property")
    with stack.sandbox.graph_store.lock:
        stack.sandbox.graph_store.put_user(user | {"businessPhones": ["+1 425 555 0100 x7788"]})

    answer = provision(stack, user["id"]).json()

    assert answer["result"] == {"outcome": "created", "extension": "7788",
                                "summary": "Created extension 7788 for Pia Property."}
    assert steps(answer)["number"]["detail"] == (
        "7788: from property businessPhones ('+1 425 555 0100 x7788')")
    assert "7788" in extensions(stack)


def test_a_synced_user_whose_job_title_changed_is_updated(stack: Stack,
                                                          pbx_control: Control) -> None:
    user = take(linked_user(stack))
    number = links(stack)[user["id"]].number
    with stack.sandbox.graph_store.lock:
        stack.sandbox.graph_store.put_user(user | {"jobTitle": "Head of Provisioning"})

    answer = provision(stack, user["id"]).json()

    assert answer["result"]["outcome"] == "updated"
    assert answer["result"]["extension"] == number
    assert "job title" in answer["result"]["summary"]
    told = steps(answer)
    assert told["match"]["detail"] == f"already linked to extension {number}"
    assert told["number"]["outcome"] == "info"
    assert told["write"]["detail"] == "extension/update (job title) → errcode 0"
    assert extensions(stack)[number]["title"] == "Head of Provisioning"


def test_an_out_of_range_user_is_skipped_and_nothing_is_written(stack: Stack,
                                                                pbx_control: Control) -> None:
    assert patch(stack, {"range": "types", "user_types": ["Member"]}).ok
    guest = new_user(stack, "Gus", "Visitor", kind="Guest")
    before = writes(pbx_control)

    answer = provision(stack, guest["id"]).json()

    assert answer["result"]["outcome"] == "skipped"
    assert answer["result"]["extension"] is None
    assert "user type Guest is not synced" in answer["result"]["summary"]
    told = steps(answer)
    assert told["range"] == {"step": "range", "outcome": "skipped",
                             "detail": "out of range: user type Guest is not synced"}
    assert told["link"]["outcome"] == "skipped"
    assert writes(pbx_control) == before and guest["id"] not in links(stack)


def test_a_synced_user_now_out_of_range_is_released_not_deleted(stack: Stack,
                                                                pbx_control: Control) -> None:
    assert patch(stack, {"range": "types", "user_types": ["Guest"]}).ok
    user = take(linked_user(stack))
    number = links(stack)[user["id"]].number

    answer = provision(stack, user["id"]).json()

    assert answer["result"]["outcome"] == "released"
    assert answer["result"]["extension"] == number
    assert steps(answer)["number"]["outcome"] == "skipped"
    assert steps(answer)["link"]["detail"].startswith(f"link removed: extension {number}")
    assert user["id"] not in links(stack) and number in extensions(stack)


def test_a_disabled_synced_user_is_left_to_a_sync_to_delete(stack: Stack,
                                                            pbx_control: Control) -> None:
    user = take(linked_user(stack))
    number = links(stack)[user["id"]].number
    with stack.sandbox.graph_store.lock:
        stack.sandbox.graph_store.put_user(user | {"accountEnabled": False})
    before = writes(pbx_control)

    answer = provision(stack, user["id"]).json()

    assert answer["result"]["outcome"] == "skipped"
    assert LEFT_TO_SYNC in answer["result"]["summary"]
    assert steps(answer)["write"] == {"step": "write", "outcome": "skipped",
                                      "detail": LEFT_TO_SYNC}
    assert writes(pbx_control) == before
    assert number in extensions(stack) and links(stack)[user["id"]].number == number


def test_group_range_counts_members_of_nested_groups(stack: Stack,
                                                     pbx_control: Control) -> None:
    store = stack.sandbox.graph_store
    with store.lock:
        parent = next(g for g, members in store.members.items()
                      if any(m in store.groups.items for m in members))
        nested = next(m for m in store.members[parent] if m in store.groups.items)
    inside, outside = new_user(stack, "Ines", "Nested"), new_user(stack, "Otto", "Outside")
    with store.lock:
        store.add_member(nested, inside["id"])
    assert patch(stack, {"range": "groups", "group_ids": [parent]}).ok

    member = provision(stack, inside["id"]).json()
    stranger = provision(stack, outside["id"]).json()

    parent_name = store.groups.items[parent]["displayName"]
    assert steps(member)["range"]["detail"] == f"in range: member of {parent_name}"
    assert member["result"]["outcome"] == "created"
    assert steps(stranger)["range"]["detail"] == "out of range: not in any synced group"
    assert stranger["result"]["outcome"] == "skipped"


def test_an_extension_with_the_users_email_is_adopted(stack: Stack,
                                                      pbx_control: Control) -> None:
    user = new_user(stack, "Ada", "Adopted", mail="ada.adopted@contoso.example")
    pbx = pbx_client(stack.settings)
    try:  # made by hand on the PBX before the user was synced
        pbx.create_extension({"number": "4321", "reg_name": "4321", "first_name": "Old",
                              "email_addr": "ada.adopted@contoso.example",
                              "user_password": generate_password(),
                              "reg_password": generate_password(),
                              "concurrent_registrations": 1, "presence_status": "available"})
    finally:
        pbx.token_source.close()

    answer = provision(stack, user["id"]).json()

    assert answer["result"]["outcome"] == "adopted" and answer["result"]["extension"] == "4321"
    told = steps(answer)
    assert told["match"]["detail"] == ("adopted: extension 4321 has the same email "
                                       "ada.adopted@contoso.example")
    assert told["number"]["detail"].startswith("keeps 4321")
    assert told["write"]["detail"].startswith("extension/update (")
    assert links(stack)[user["id"]].number == "4321"
    assert extensions(stack)["4321"]["first_name"] == "Ada"
