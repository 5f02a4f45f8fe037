"""Batched Graph reads (`core.graph.batch`) against the Graph simulator's `$batch`, over HTTPS."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from core.clients import graph_client
from core.config import Settings
from core.errors import ApiError, GraphError, ThrottledError
from core.graph.batch import Read
from core.graph.client import GraphClient
from core.graph.records import EntraContact
from sandbox.graph.store import GraphStore
from sandbox.runner import Sandbox
from tests.conftest import Control


def mailbox_users(store: GraphStore, count: int, *, contacts: int = 2) -> list[str]:
    """Users with an Exchange Online mailbox, each holding `contacts` contacts."""
    ids = []
    with store.lock:
        for i in range(count):
            tag = uuid.uuid4().hex[:6]
            user = store.put_user({"displayName": f"Box {i}", "givenName": "Box", "surname": str(i),
                                   "userPrincipalName": f"box{i}-{tag}@contoso.com",
                                   "mail": f"box{i}-{tag}@contoso.com", "userType": "Member",
                                   "accountEnabled": True, "businessPhones": []})
            folder = store.mailbox(user["id"]).default_folder
            for n in range(contacts):
                store.put_contact(user["id"], folder, {
                    "displayName": f"Contact {i}.{n}", "givenName": "Contact", "surname": f"{i}.{n}",
                    "mobilePhone": f"+1 206 555 {n:04d}", "homePhones": [], "businessPhones": [],
                    "emailAddresses": []}, "created")
            ids.append(user["id"])
    return ids


def group_of(store: GraphStore, members: list[str]) -> str:
    with store.lock:
        group = store.put_group({"displayName": f"Team {uuid.uuid4().hex[:6]}", "groupTypes": [],
                                 "securityEnabled": True, "mailEnabled": False,
                                 "mailNickname": "team"})
        for member in members:
            store.add_member(group["id"], member)
    return str(group["id"])


def client(settings: Settings, *, batching: bool = True) -> GraphClient:
    graph = graph_client(settings)
    graph.batching = batching
    graph.transport.backoff = 0.01
    graph.token_source.token()  # the token request is not what these tests count
    return graph


def requests_seen(control: Control) -> dict[str, Any]:
    return dict(control.get("requests"))


def reset(control: Control) -> None:
    control.session.delete(f"{control.base_url}/_sandbox/requests", timeout=10).raise_for_status()


def names(found: list[EntraContact] | ApiError) -> set[str]:
    assert isinstance(found, list), found
    return {c.display_name or "" for c in found}


def test_45_mailboxes_are_read_in_3_batches_and_agree_with_one_request_each(
        sandbox: Sandbox, settings: Settings, graph_control: Control) -> None:
    boxes = mailbox_users(sandbox.graph_store, 45)
    batched, plain = client(settings), client(settings, batching=False)
    reset(graph_control)

    found = batched.contacts_of(boxes)
    seen = requests_seen(graph_control)
    alone = plain.contacts_of(boxes)

    assert {uid: names(c) for uid, c in found.items()} == {uid: names(c) for uid, c in alone.items()}
    assert names(found[boxes[7]]) == {"Contact 7.0", "Contact 7.1"}
    assert seen["by_method_path"]["POST /v1.0/$batch"] == 3 and seen["wire"] == 3
    assert seen["batched"]["total"] == 45
    assert seen["by_method_path"][f"GET /v1.0/users/{boxes[0]}/contacts"] == 1


def test_an_inner_429_is_asked_again_after_its_retry_after_and_the_read_is_whole(
        sandbox: Sandbox, settings: Settings, graph_control: Control) -> None:
    boxes = mailbox_users(sandbox.graph_store, 25)
    graph = client(settings)
    reset(graph_control)
    graph_control.fault(path=f"/v1.0/users/{boxes[3]}/contacts", status=429, retry_after=1.5,
                        count=1)

    started = time.monotonic()
    found = graph.contacts_of(boxes)

    assert time.monotonic() - started >= 1.5
    assert all(len(names(c)) == 2 for c in found.values())
    counts = requests_seen(graph_control)["by_method_path"]
    assert counts[f"GET /v1.0/users/{boxes[3]}/contacts"] == 2  # only it was asked again
    assert counts[f"GET /v1.0/users/{boxes[4]}/contacts"] == 1
    assert counts["POST /v1.0/$batch"] == 3  # 20, 5, then the throttled one alone


def test_a_persistent_inner_429_fails_that_read_as_one_request_would(
        sandbox: Sandbox, settings: Settings, graph_control: Control) -> None:
    boxes = mailbox_users(sandbox.graph_store, 5)
    graph = client(settings)
    graph_control.fault(path=f"/v1.0/users/{boxes[2]}/contacts", status=429, retry_after=0.05,
                        count=100)

    found = graph.contacts_of(boxes)
    with pytest.raises(ThrottledError) as alone:
        list(graph.contacts(boxes[2]))

    error = found[boxes[2]]
    assert isinstance(error, ThrottledError)
    assert (error.status, error.retry_after) == (429, 0.05) == (alone.value.status,
                                                                alone.value.retry_after)
    assert error.url == alone.value.url.split("?")[0] + "?$top=1000"
    assert all(len(names(found[b])) == 2 for b in boxes if b != boxes[2])
    attempts = graph.transport.attempts
    assert graph_control.counts()[f"GET /v1.0/users/{boxes[2]}/contacts"] == 2 * attempts


def test_a_group_whose_members_stay_throttled_fails_the_whole_members_read(
        sandbox: Sandbox, settings: Settings, graph_control: Control) -> None:
    store = sandbox.graph_store
    people = mailbox_users(store, 4, contacts=0)
    groups = [group_of(store, people[:2]), group_of(store, people[2:])]
    graph = client(settings)
    graph_control.fault(path=f"/v1.0/groups/{groups[1]}", status=503, count=100)

    with pytest.raises(ThrottledError) as caught:
        graph.members_of(groups)

    assert caught.value.status == 503 and groups[1] in caught.value.url


def test_a_retry_after_beyond_max_wait_is_left_to_the_caller(
        sandbox: Sandbox, settings: Settings, graph_control: Control) -> None:
    boxes = mailbox_users(sandbox.graph_store, 2)
    graph = client(settings)
    graph_control.fault(path=f"/v1.0/users/{boxes[0]}/contacts", status=429, retry_after=120,
                        count=1)

    started = time.monotonic()
    found = graph.contacts_of(boxes)

    error = found[boxes[0]]
    assert isinstance(error, ThrottledError) and error.retry_after == 120
    assert time.monotonic() - started < 10 and len(names(found[boxes[1]])) == 2


def test_inner_pages_are_followed_to_the_last_even_when_a_later_page_is_throttled(
        sandbox: Sandbox, settings: Settings, graph_control: Control) -> None:
    store = sandbox.graph_store
    people = mailbox_users(store, 250, contacts=0)
    big, small = group_of(store, people), group_of(store, people[:3])
    graph = client(settings)
    graph.page_size = 100
    path = f"/v1.0/groups/{big}/transitiveMembers/microsoft.graph.user"
    graph_control.fault(path=path, status=429, retry_after=0.2, skip=1, count=1)  # 2nd page
    reset(graph_control)

    members = graph.members_of([big, small])

    assert sorted(members[big]) == sorted(people) and sorted(members[small]) == sorted(people[:3])
    assert graph_control.counts()[f"GET {path}"] == 4  # 3 pages, the second one twice


def test_inner_requests_pass_the_same_permission_and_mailbox_checks_as_direct_ones(
        sandbox: Sandbox, settings: Settings, graph_control: Control) -> None:
    boxes = mailbox_users(sandbox.graph_store, 2)
    graph_control.post("config", {"without_mailbox": [boxes[1]]})
    graph = client(settings)
    missing = graph.contacts_of(boxes)[boxes[1]]
    graph_control.post("config", {"revoke": ["Contacts.Read"]})
    refused = client(settings).contacts_of(boxes)

    assert isinstance(missing, GraphError)
    assert (missing.status, missing.code) == (404, "MailboxNotEnabledForRESTAPI")
    for error in refused.values():
        assert isinstance(error, GraphError)
        assert (error.status, error.code) == (403, "ErrorAccessDenied")


def test_mailbox_purposes_are_batched_and_a_missing_mailbox_is_its_own_answer(
        sandbox: Sandbox, settings: Settings, graph_control: Control) -> None:
    boxes = mailbox_users(sandbox.graph_store, 3, contacts=0)
    with sandbox.graph_store.lock:
        sandbox.graph_store.mailbox_settings[boxes[0]] = {"userPurpose": "shared"}
    graph_control.post("config", {"without_mailbox": [boxes[2]]})

    found = client(settings).mailbox_purposes(boxes)

    assert found[boxes[0]] == "shared" and found[boxes[1]] == "user"
    assert isinstance(found[boxes[2]], GraphError) and found[boxes[2]].status == 404


def test_a_batch_that_fails_as_a_whole_raises(sandbox: Sandbox, settings: Settings,
                                              graph_control: Control) -> None:
    boxes = mailbox_users(sandbox.graph_store, 3)
    graph = client(settings)
    graph_control.fault(path="/v1.0/$batch", status=503, count=100)

    with pytest.raises(ThrottledError):
        graph.contacts_of(boxes)


def test_read_many_keeps_each_read_apart_and_can_stop_after_one_page(
        sandbox: Sandbox, settings: Settings) -> None:
    boxes = mailbox_users(sandbox.graph_store, 1, contacts=3)
    graph = client(settings)

    found = graph.read_many([Read("one page", f"/users/{boxes[0]}/contacts?$top=1", whole=False),
                             Read("every page", f"users/{boxes[0]}/contacts?$top=1"),
                             Read("nobody", "/users/nobody-here")])

    assert len(found["one page"].values()) == 1 and len(found["every page"].values()) == 3
    assert isinstance(found["nobody"].error, GraphError) and found["nobody"].error.status == 404
    with pytest.raises(ValueError):
        graph.read_many([Read("a", "/users"), Read("a", "/groups")])


# the simulator's $batch ---------------------------------------------------------------
def post_batch(sandbox: Sandbox, graph: GraphClient, items: list[dict[str, Any]]
               ) -> requests.Response:
    return requests.post(f"{sandbox.graph.url}/v1.0/$batch", json={"requests": items},
                         headers={"Authorization": f"Bearer {graph.token_source.token()}"},
                         verify=str(sandbox.cert_path), timeout=30)


def test_the_simulator_refuses_21_requests_and_repeated_ids(sandbox: Sandbox,
                                                            settings: Settings) -> None:
    graph = client(settings)
    many = [{"id": str(n), "method": "GET", "url": "/users?$top=1"} for n in range(21)]

    refused = post_batch(sandbox, graph, many)
    twice = post_batch(sandbox, graph, [{"id": "a", "method": "GET", "url": "/users"},
                                        {"id": "A", "method": "GET", "url": "/groups"}])
    twenty = post_batch(sandbox, graph, many[:20])

    assert refused.status_code == 400 and refused.json()["error"]["code"] == "BadRequest"
    assert twice.status_code == 400
    assert twenty.status_code == 200 and len(twenty.json()["responses"]) == 20


def test_the_simulator_answers_a_429_inside_the_batch_with_its_retry_after(
        sandbox: Sandbox, settings: Settings, graph_control: Control) -> None:
    boxes = mailbox_users(sandbox.graph_store, 3, contacts=0)
    graph = client(settings)
    graph_control.fault(path=f"/v1.0/users/{boxes[1]}", status=429, retry_after=2.128, count=1)
    reset(graph_control)

    answer = post_batch(sandbox, graph, [{"id": str(n), "method": "GET", "url": f"/users/{b}"}
                                         for n, b in enumerate(boxes)])

    by_id = {r["id"]: r for r in answer.json()["responses"]}
    assert answer.status_code == 200
    assert [by_id[str(n)]["status"] for n in range(3)] == [200, 429, 200]
    assert by_id["1"]["headers"]["Retry-After"] == "2.128"
    assert by_id["1"]["body"]["error"]["code"] == "TooManyRequests"
    seen = requests_seen(graph_control)
    assert seen["by_method_path"]["POST /v1.0/$batch"] == 1
    assert (seen["wire"], seen["batched"]["total"], seen["total"]) == (1, 3, 4)


def test_the_simulator_waits_inner_latency_once_as_if_side_by_side(
        sandbox: Sandbox, settings: Settings, graph_control: Control) -> None:
    boxes = mailbox_users(sandbox.graph_store, 10, contacts=0)
    graph = client(settings)
    graph_control.fault(path="/v1.0/users/", status=200, latency_ms=400, count=10)

    started = time.monotonic()
    answer = post_batch(sandbox, graph, [{"id": str(n), "method": "GET", "url": f"/users/{b}"}
                                         for n, b in enumerate(boxes)])

    assert {r["status"] for r in answer.json()["responses"]} == {200}
    assert 0.4 <= time.monotonic() - started < 2.0
