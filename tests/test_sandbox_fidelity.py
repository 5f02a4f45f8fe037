"""The simulators answer in the shapes of the payloads quoted in the contracts (tests/data)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, request

from core.graph.client import GraphClient
from sandbox.runner import Sandbox
from sandbox.serve import ServedApp
from tests.conftest import Control
from tests.test_graph_client import add_users

DATA = Path(__file__).parent / "data"


def example(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def keys(obj: dict[str, Any]) -> set[str]:
    return set(obj)


class Receiver:
    """A webhook endpoint that answers the validation handshake and records notifications."""

    def __init__(self, *, echo_encoded: bool = False) -> None:
        app = Flask("receiver")
        self.received: list[dict[str, Any]] = []
        self.validations: list[str] = []
        self.lock = threading.Lock()

        @app.post("/hook")
        def hook() -> tuple[str, int, dict[str, str]]:
            token = request.args.get("validationToken")
            if token is not None:
                self.validations.append(token)
                raw = urlsplit(request.url).query.split("validationToken=", 1)[1]
                return (raw if echo_encoded else token), 200, {"Content-Type": "text/plain"}
            with self.lock:
                self.received.extend(request.get_json()["value"])
            return "", 202, {}

        self.server = ServedApp(app)
        self.url = f"{self.server.url}/hook"

    def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} notifications, got {len(self.received)}")


@pytest.fixture
def receiver() -> Any:
    hook = Receiver()
    yield hook
    hook.server.stop()


def expiry(minutes: int = 60 * 24) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + minutes * 60))


def subscribe(graph: GraphClient, url: str, resource: str = "users") -> dict[str, Any]:
    return graph.create_subscription(resource=resource, change_type="updated,deleted",
                                     notification_url=url, expiration=expiry(),
                                     client_state="state-123", lifecycle_url=url)


def test_user_change_notification_has_the_documented_envelope(
        sandbox: Sandbox, graph: GraphClient, receiver: Receiver) -> None:
    (alice,) = add_users(sandbox.graph_store, 1)
    subscribe(graph, receiver.url)

    graph.request("PATCH", f"users/{alice}", json={"jobTitle": "Lead"})
    (item,) = receiver.wait_for(1)

    documented = example("change_notification.json")["value"][0]
    assert keys(item) == keys(documented)
    assert keys(documented["resourceData"]) - {"@odata.etag"} <= keys(item["resourceData"])
    assert (item["changeType"], item["resourceData"]["id"], item["clientState"]) == (
        "updated", alice, "state-123")


def test_validation_token_is_sent_encoded_and_must_come_back_decoded(
        graph: GraphClient, receiver: Receiver) -> None:
    subscribe(graph, receiver.url)
    bad = Receiver(echo_encoded=True)
    try:
        with pytest.raises(Exception) as caught:
            subscribe(graph, bad.url, resource="groups")
    finally:
        bad.server.stop()

    assert " " in receiver.validations[0]  # decoded by the receiver from %20
    assert getattr(caught.value, "status", None) == 400


def test_duplicate_subscription_is_409_and_presence_needs_delegated(
        graph: GraphClient, receiver: Receiver, sandbox: Sandbox) -> None:
    (alice,) = add_users(sandbox.graph_store, 1)
    subscribe(graph, receiver.url)

    with pytest.raises(Exception) as duplicate:
        subscribe(graph, receiver.url)
    with pytest.raises(Exception) as presence:
        graph.create_subscription(resource=f"communications/presences/{alice}",
                                  change_type="updated", notification_url=receiver.url,
                                  expiration=expiry(50), client_state="s")

    assert getattr(duplicate.value, "status", None) == 409
    assert getattr(presence.value, "status", None) == 403


def test_subscription_longer_than_the_maximum_is_refused(graph: GraphClient,
                                                         receiver: Receiver) -> None:
    with pytest.raises(Exception) as caught:
        graph.create_subscription(resource="users", change_type="updated",
                                  notification_url=receiver.url, expiration=expiry(41_760 + 60),
                                  client_state="s")

    assert getattr(caught.value, "status", None) == 400


def test_lifecycle_notification_has_the_documented_envelope(
        graph: GraphClient, receiver: Receiver, graph_control: Control) -> None:
    sub = subscribe(graph, receiver.url)

    graph_control.post("lifecycle", {"subscriptionId": sub["id"],
                                     "lifecycleEvent": "reauthorizationRequired"})
    (item,) = receiver.wait_for(1)

    assert keys(item) == keys(example("lifecycle_notification.json")["value"][0])


def test_reauthorization_is_asked_every_15_minutes_in_the_last_hour(
        graph: GraphClient, receiver: Receiver, graph_control: Control) -> None:
    sub = subscribe(graph, receiver.url)  # expires in about a day
    graph_control.advance(23 * 3600 + 50 * 60)  # 10 minutes into its last hour
    time.sleep(1)
    graph_control.advance(6 * 60)
    (first,) = receiver.wait_for(1)
    graph.renew_subscription(sub["id"], expiry(50))  # renewed, yet inside its last hour
    graph_control.advance(10 * 60)
    time.sleep(1)
    quiet = len(receiver.received)
    graph_control.advance(6 * 60)
    second = receiver.wait_for(2)[-1]

    assert first["lifecycleEvent"] == second["lifecycleEvent"] == "reauthorizationRequired"
    assert quiet == 1  # not within 15 minutes of the renewal


def test_expired_subscription_disappears(graph: GraphClient, receiver: Receiver,
                                         graph_control: Control) -> None:
    subscribe(graph, receiver.url)
    graph_control.advance(25 * 3600)
    deadline = time.monotonic() + 5
    while graph.subscriptions() and time.monotonic() < deadline:
        time.sleep(0.1)

    assert graph.subscriptions() == []


def test_failed_delivery_is_retried(sandbox: Sandbox, graph: GraphClient) -> None:
    attempts: list[int] = []
    app = Flask("flaky")

    @app.post("/hook")
    def hook() -> tuple[str, int, dict[str, str]]:
        if "validationToken" in request.args:
            return request.args["validationToken"], 200, {"Content-Type": "text/plain"}
        attempts.append(len(request.get_json()["value"]))
        return "", (503 if len(attempts) == 1 else 202), {}

    server = ServedApp(app)
    try:
        (alice,) = add_users(sandbox.graph_store, 1)
        subscribe(graph, f"{server.url}/hook")
        graph.request("PATCH", f"users/{alice}", json={"jobTitle": "Lead"})
        deadline = time.monotonic() + 10
        while len(attempts) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()

    assert attempts == [1, 1]


def test_users_delta_page_has_the_documented_shape(sandbox: Sandbox, graph: GraphClient) -> None:
    ids = add_users(sandbox.graph_store, 150)
    graph.request("DELETE", f"users/{ids[0]}")

    first = graph.request("GET", "users/delta", params={"$select": "displayName,givenName,surname"})
    documented = example("users_delta_page.json")

    assert keys(first) == keys(documented)
    assert "$skiptoken=" in first["@odata.nextLink"]
    assert keys(first["value"][0]) == keys(documented["value"][0])
    parsed = urlsplit(first["@odata.nextLink"])
    assert f"{parsed.scheme}://{parsed.netloc}" == sandbox.graph.url
    assert "$select" not in parse_qs(parsed.query)  # the select lives inside the opaque token


def test_groups_delta_page_has_the_documented_shape(sandbox: Sandbox, graph: GraphClient) -> None:
    alice, bob = add_users(sandbox.graph_store, 2)
    store = sandbox.graph_store
    with store.lock:
        group = store.put_group({"displayName": "TestGroup3", "description": "d", "groupTypes": [],
                                 "securityEnabled": True, "mailEnabled": False,
                                 "mailNickname": "tg3"})["id"]
        store.add_member(group, alice)
    link = graph.request("GET", "groups/delta", params={"$select": "displayName,description,members"})
    with store.lock:
        store.remove_member(group, alice)
        store.add_member(group, bob)

    page = graph.request("GET", link["@odata.deltaLink"])
    documented = example("groups_delta_page.json")

    assert keys(page) == keys(documented)
    assert keys(page["value"][0]) == keys(documented["value"][0])
    assert sorted(map(keys, page["value"][0]["members@delta"]), key=len) == sorted(
        map(keys, documented["value"][0]["members@delta"]), key=len)


def test_throttled_answer_has_the_documented_body(graph_control: Control,
                                                  sandbox: Sandbox) -> None:
    graph_control.fault(path="/v1.0/users", status=429, retry_after=2.128)

    answer = requests.get(f"{sandbox.graph.url}/v1.0/users", verify=str(sandbox.cert_path),
                          timeout=10)
    documented = example("throttled.json")

    assert answer.status_code == 429 and answer.headers["Retry-After"] == "2.128"
    assert keys(answer.json()) == keys(documented)
    assert answer.json()["error"]["code"] == documented["error"]["code"]


def test_presences_by_user_id_has_the_documented_shape(sandbox: Sandbox,
                                                       graph: GraphClient) -> None:
    ids = add_users(sandbox.graph_store, 2)

    body = graph.request("POST", "communications/getPresencesByUserId", json={"ids": ids})

    documented = example("presences_by_user_id.json")["value"][0]
    assert all(keys(documented) <= keys(row) for row in body["value"])


def test_paging_rules_of_list_users(sandbox: Sandbox, graph: GraphClient) -> None:
    add_users(sandbox.graph_store, 3)
    refusals = []
    for params in ({"$skip": "1"}, {"$top": "1000"}, {"$filter": "userType ne 'Guest'"}):
        with pytest.raises(Exception) as caught:
            graph.request("GET", "users", params=params)
        refusals.append(getattr(caught.value, "status", None))

    counted = graph.request("GET", "users", params={"$filter": "userType ne 'Guest'",
                                                    "$count": "true"},
                            headers={"ConsistencyLevel": "eventual"})
    assert refusals == [400, 400, 400]
    assert counted["@odata.count"] == 3


def pbx_post(sandbox: Sandbox, endpoint: str, body: dict[str, Any], **params: str) -> Any:
    return requests.post(f"{sandbox.pbx.url}/openapi/v1.0/{endpoint}", json=body, params=params,
                         headers={"User-Agent": "OpenAPI"}, timeout=10).json()


def test_pbx_token_and_error_envelopes_match_the_documents(sandbox: Sandbox) -> None:
    store = sandbox.pbx_store
    good = pbx_post(sandbox, "get_token", {"username": store.client_id,
                                           "password": store.client_secret})
    bad = pbx_post(sandbox, "get_token", {"username": store.client_id, "password": "nope"})
    fields = {"type": "SIP", "number": "1011", "user_password": "Secret12345x", "reg_name": "1011",
              "reg_password": "regpass-1", "concurrent_registrations": 1,
              "presence_status": "available", "email_addr": "example@126.com"}
    pbx_post(sandbox, "extension/create", fields, access_token=good["access_token"])
    duplicate = pbx_post(sandbox, "extension/create", fields | {"number": "1012"},
                         access_token=good["access_token"])

    assert keys(good) == keys(example("pbx_get_token.json"))
    assert bad == example("pbx_bad_credentials.json")
    assert duplicate == example("pbx_duplicate_email.json")


def test_pbx_refuses_requests_without_user_agent_and_unknown_paths(sandbox: Sandbox) -> None:
    bare = requests.post(f"{sandbox.pbx.url}/openapi/v1.0/get_token", json={},
                         headers={"User-Agent": ""}, timeout=10)
    unknown = requests.get(f"{sandbox.pbx.url}/openapi/v1.0/extension/frobnicate",
                           headers={"User-Agent": "OpenAPI"}, timeout=10)

    assert bare.status_code == 200 and bare.json()["errcode"] == 40002
    assert unknown.json()["errcode"] == 10001
    assert "No route for" in unknown.json()["invalid_param_list"][0]["value"]


def test_pbx_allows_63_extension_groups_and_lists_the_default_one(sandbox: Sandbox) -> None:
    store = sandbox.pbx_store
    token = pbx_post(sandbox, "get_token", {"username": store.client_id,
                                            "password": store.client_secret})["access_token"]
    codes = [pbx_post(sandbox, "extensiongroup/create", {"name": f"G{i}",
                                                         "member_select": "sel_all_ext"},
                      access_token=token)["errcode"] for i in range(63)]
    rows = requests.get(f"{sandbox.pbx.url}/openapi/v1.0/extensiongroup/list",
                        params={"access_token": token, "page_size": 100},
                        headers={"User-Agent": "OpenAPI"}, timeout=10).json()

    assert codes == [0] * 62 + [60002]  # the default group is the first of 63
    assert keys(rows["data"][0]) == keys(example("pbx_group_row.json"))
    assert rows["data"][0]["name"] == "Default_All_Extensions"


def test_deliveries_are_sometimes_duplicated_as_at_least_once_delivery_allows(
        sandbox: Sandbox, graph: GraphClient, receiver: Receiver, graph_control: Control) -> None:
    (alice,) = add_users(sandbox.graph_store, 1)
    subscribe(graph, receiver.url)
    graph_control.post("config", {"duplicate_rate": 1.0})

    graph.request("PATCH", f"users/{alice}", json={"jobTitle": "Lead"})
    first, second = receiver.wait_for(2)

    assert first == second  # the same notification id twice


def test_presence_notification_has_the_basic_shape_graph_sends_since_june_2024(
        sandbox: Sandbox, graph: GraphClient, receiver: Receiver) -> None:
    """"Breaking changes to Microsoft Graph presence and online meeting basic change
    notifications" (Microsoft 365 Developer Blog, 2024; tests/data/presence_notification_2024.json):
    the resource is the filter form, and resourceData carries the user's id."""
    import datetime as dt

    from core.http import new_session
    from core.presence.subscription import certificate
    from core.secret_box import SecretBox
    from core.store.stub import stub_store
    from tests.test_sandbox_signin import REDIRECT, sign_in

    store = sandbox.graph_store
    alice, bob = add_users(store, 2)
    store.app.redirect_uris = {REDIRECT}
    token = sign_in(sandbox, store.users.items[alice])["access_token"]
    pem, cert_id = certificate(stub_store(), SecretBox("fidelity-presence-key-4Tq9Lm2Xw7Rb"),
                               dt.datetime.now(dt.UTC))
    created = new_session(str(sandbox.cert_path)).post(
        f"{sandbox.describe()['graph_base_url']}/subscriptions",
        headers={"Authorization": f"Bearer {token}"},
        json={"changeType": "updated", "notificationUrl": receiver.url,
              "resource": f"/communications/presences?$filter=id in ('{alice}', '{bob}')",
              "expirationDateTime": expiry(50), "clientState": "presence-state",
              "encryptionCertificate": pem, "encryptionCertificateId": cert_id}, timeout=30)
    assert created.status_code == 201, created.text

    graph.request("POST", f"users/{bob}/presence/setPresence", json={
        "sessionId": sandbox.describe()["client_id"], "availability": "Busy", "activity": "InACall"})
    (item,) = receiver.wait_for(1)

    documented = example("presence_notification_2024.json")["value"][0]
    assert keys(item) == keys(documented)
    assert item["resource"] == f"communications/presences?$filter=id+in+(%27{bob}%27)"
    assert item["resourceData"] == {"@odata.type": "#Microsoft.Graph.presence",
                                    "@odata.id": f"users/{bob}/presence", "id": bob}
    assert (item["changeType"], item["clientState"]) == ("updated", "presence-state")
