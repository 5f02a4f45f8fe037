"""The Graph receiver and the admin API through Flask's client, with fakeredis and a stub broker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient

from core.config import Settings
from core.connection import Credentials
from core.secret_box import SecretBox
from core.sync_settings import defaults, merge
from webhook import create_app

TOKEN = "admin-token-for-tests-Rk4Wz8Ns2Qd6Jv1Lx9"
SETTINGS = Settings.from_env({"SECRET_KEY": "webhook-test-key-Hd2Ks9Wq5Zr1Xm7Vc3Tb8Np4",
                              "PBX_BASE_URL": "http://127.0.0.1:1",
                              "PBX_CLIENT_ID": "id", "PBX_CLIENT_SECRET": "pbx-secret",
                              "ADMIN_TOKEN": TOKEN})


@pytest.fixture
def client(broker: StubBroker) -> Iterator[FlaskClient]:
    app = create_app(SETTINGS, redis_client=fakeredis.FakeRedis(), broker=broker)
    app.extensions["subscriptions"].save({
        "id": "sub-1", "resource": "users", "change_type": "updated,deleted",
        "expires_at": "2030-01-01T00:00:00Z",
        "client_state": SecretBox(SETTINGS.secret_key).seal("the-client-state")})
    app.extensions["connection"].save(Credentials("tenant-1", "client-1", "entra-secret"))
    # the schedule's time zone, chosen before any part is turned on (test_schedule_zone.py)
    app.extensions["state"].save_settings(merge(defaults(), {"schedule": {"timezone": "UTC"}}))
    yield app.test_client()


def item(**changes: Any) -> dict[str, Any]:
    return {"id": "n1", "subscriptionId": "sub-1", "clientState": "the-client-state",
            "changeType": "updated", "resource": "Users/u1", "tenantId": "t",
            "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
            "resourceData": {"id": "u1"}} | changes


def messages(broker: StubBroker) -> list[dict[str, Any]]:
    return [json.loads(m) for m in broker.queues["default"].queue]


def test_validation_token_is_echoed_decoded_as_plain_text(client: FlaskClient) -> None:
    answer = client.post("/graph/notifications?validationToken=Validation%3A%20a%20b%2Bc")

    assert answer.status_code == 200
    assert answer.mimetype == "text/plain" and answer.get_data(as_text=True) == "Validation: a b+c"


def test_oversized_or_control_character_tokens_are_refused(client: FlaskClient) -> None:
    assert client.post("/graph/notifications?validationToken=" + "a" * 1025).status_code == 400
    assert client.post("/graph/lifecycle?validationToken=a%07b").status_code == 400


def test_one_message_carries_the_accepted_items_of_a_batch(client: FlaskClient,
                                                         broker: StubBroker) -> None:
    body = {"value": [item(), item(id="n2", resource="Users/u2"),
                      item(id="n3", clientState="forged"), item(id="n4", subscriptionId="x")]}

    answer = client.post("/graph/notifications", json=body)

    assert answer.status_code == 202
    (message,) = messages(broker)
    assert message["actor_name"] == "note_changes"
    assert [i["id"] for i in message["args"][0]] == ["n1", "n2"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'eps_notifications_total{outcome="accepted"} 2.0' in metrics
    assert 'eps_notifications_total{outcome="bad_client_state"} 1.0' in metrics
    assert 'eps_notifications_total{outcome="unknown_subscription"} 1.0' in metrics


def test_bad_input_is_a_4xx_and_enqueues_nothing(client: FlaskClient, broker: StubBroker) -> None:
    answers = [
        client.post("/graph/notifications", data="not json", content_type="application/json"),
        client.post("/graph/notifications", json={"value": [{"changeType": "updated"}]}),
        client.post("/graph/notifications", json={"value": []}),
        client.post("/graph/notifications", json=[1, 2]),
        client.post("/graph/notifications", data=b"x" * (1024 * 1024 + 1),
                    content_type="application/json"),
    ]

    assert [a.status_code for a in answers] == [400, 400, 400, 400, 413]
    assert messages(broker) == []


def test_a_body_shorter_than_its_stated_length_is_refused(client: FlaskClient,
                                                          broker: StubBroker) -> None:
    body = json.dumps({"value": [item()]}).encode()

    answer = client.post("/graph/notifications", data=body, content_type="application/json",
                         environ_overrides={"CONTENT_LENGTH": str(len(body) + 10)})

    assert answer.status_code == 400
    assert messages(broker) == []


def test_a_body_of_unstated_length_from_a_server_that_ends_it_is_read(
        client: FlaskClient, broker: StubBroker) -> None:
    body = json.dumps({"value": [item()]}).encode()  # chunked, as gunicorn hands it over

    answer = client.post("/graph/notifications", data=body, content_type="application/json",
                         environ_overrides={"CONTENT_LENGTH": "", "wsgi.input_terminated": True})

    assert answer.status_code == 202
    assert [i["id"] for i in messages(broker)[0]["args"][0]] == ["n1"]


@pytest.mark.parametrize(("body", "problem"), [
    ({"value": [item(), "x"]}, "value[1] must be an object"),
    ({"value": [item(resource=None)]}, "value[0].resource must be a string"),
    ({"value": [item(clientState=7)]}, "value[0].clientState must be a string or null"),
    ({"value": [item(id=["n"])]}, "value[0].id must be a string or null"),
    ({"value": [item()] * 1001}, "'value' must hold 1 to 1000 notifications"),
    ({"values": [item()]}, "the body must be an object with a 'value' array"),
])
def test_a_malformed_collection_is_refused_with_what_is_wrong(
        client: FlaskClient, broker: StubBroker, body: Any, problem: str) -> None:
    answer = client.post("/graph/notifications", json=body)

    assert answer.status_code == 400
    assert answer.json["error"] == f"not a notification collection: {problem}"
    assert messages(broker) == []


def test_optional_fields_may_be_null_and_each_item_without_an_id_gets_its_own(
        client: FlaskClient, broker: StubBroker) -> None:
    body = {"value": [item(id=None), item(id=None), item(id=None, resource="Users/u2")]}

    assert client.post("/graph/notifications", json=body).status_code == 202
    (message,) = messages(broker)
    assert len({i["id"] for i in message["args"][0]}) == 3


def note_as_the_worker_does(client: FlaskClient, broker: StubBroker) -> None:
    """Hand every queued NOTE_CHANGES message to the app's debouncer, one note per message."""
    debouncer = client.application.extensions["debouncer"]
    for message in messages(broker):
        for change in message["args"][0]:
            debouncer.note(change["kind"], [change["id"]])


def test_a_second_edit_of_a_user_without_a_graph_id_is_a_second_pending_change(
        client: FlaskClient, broker: StubBroker) -> None:
    # Graph's published user and group examples carry no id: the same body twice is two edits
    for _ in range(2):
        assert client.post("/graph/notifications", json={"value": [item(id=None)]}).status_code == 202

    first, second = ([i["id"] for i in m["args"][0]] for m in messages(broker))
    assert first != second
    note_as_the_worker_does(client, broker)
    assert client.application.extensions["debouncer"].pending("users") == 2


def test_a_notification_redelivered_with_the_same_graph_id_counts_once(
        client: FlaskClient, broker: StubBroker) -> None:
    for _ in range(2):
        assert client.post("/graph/notifications", json={"value": [item(id="n7")]}).status_code == 202

    assert [i["id"] for m in messages(broker) for i in m["args"][0]] == ["n7", "n7"]
    note_as_the_worker_does(client, broker)
    assert client.application.extensions["debouncer"].pending("users") == 1


def test_a_forged_batch_is_counted_per_item_and_logged_once(
        client: FlaskClient, broker: StubBroker, caplog: pytest.LogCaptureFixture) -> None:
    forged = [item(id=f"n{i}", clientState="forged") for i in range(50)]

    with caplog.at_level("WARNING", logger="webhook"):
        answer = client.post("/graph/notifications", json={"value": [item(), *forged]})

    assert answer.status_code == 202
    assert [i["id"] for m in messages(broker) for i in m["args"][0]] == ["n1"]
    assert [r.getMessage() for r in caplog.records] == [
        "notification with a wrong clientState dropped"]
    assert "forged" not in caplog.text
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'eps_notifications_total{outcome="bad_client_state"} 50.0' in metrics


def test_lifecycle_events_are_handed_to_workers(client: FlaskClient, broker: StubBroker) -> None:
    body = {"value": [{"subscriptionId": "sub-1", "clientState": "the-client-state",
                       "lifecycleEvent": "reauthorizationRequired", "tenantId": "t",
                       "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z"}]}

    assert client.post("/graph/lifecycle", json=body).status_code == 202
    (message,) = messages(broker)
    assert message["actor_name"] == "handle_lifecycle"


def admin(client: FlaskClient, method: str, path: str, body: Any = None,
          token: str = TOKEN) -> Any:
    return client.open(path, method=method, json=body,
                       headers={"Authorization": f"Bearer {token}"})


def test_admin_api_needs_the_token(client: FlaskClient) -> None:
    assert client.get("/api/status").status_code == 401
    assert admin(client, "GET", "/api/status", token="wrong").status_code == 401
    assert admin(client, "GET", "/api/status").json["state"] == "connected"


def test_settings_patch_lists_every_field_error(client: FlaskClient) -> None:
    answer = admin(client, "PATCH", "/api/settings",
                   {"users": {"range": "sometimes"}, "safety": {"max_deletions": "many"}})

    assert answer.status_code == 400
    assert set(answer.json["fields"]) == {"users.range", "safety.max_deletions"}


def test_user_sync_is_off_until_saved_and_the_save_that_turns_it_on_queues_a_sync(
        client: FlaskClient, broker: StubBroker) -> None:
    unsaved = admin(client, "POST", "/api/sync", {"scope": "users"})
    assert unsaved.status_code == 409 and unsaved.json["reason"] == "not_configured"
    saved_off = admin(client, "PATCH", "/api/settings", {"users": {"range": "all"}})
    assert "run_id" not in saved_off.json
    assert admin(client, "POST", "/api/sync", {"scope": "users"}).json["reason"] == "off"

    first = admin(client, "PATCH", "/api/settings", {"users": {"enabled": True,
                                                               "numbering": {"start": "3000"}}})
    second = admin(client, "PATCH", "/api/settings", {"users": {"numbering": {"start": "4000"}}})

    assert "run_id" in first.json and "run_id" not in second.json
    assert [m["args"] for m in messages(broker)] == [[first.json["run_id"], False]]
    assert admin(client, "GET", f"/api/runs/{first.json['run_id']}").json["state"] == "queued"


def test_sync_now_accepts_the_scopes_this_version_has(client: FlaskClient) -> None:
    admin(client, "PATCH", "/api/settings", {"users": {"enabled": True},
                                             "groups": {"enabled": False}})
    assert admin(client, "POST", "/api/sync", {"scope": "users"}).status_code == 202
    off = admin(client, "POST", "/api/sync", {"scope": "groups"})
    assert off.status_code == 409 and "off in the settings" in off.json["error"]
    assert off.json["reason"] == "off"
    admin(client, "PATCH", "/api/settings", {"groups": {"enabled": True}})
    assert admin(client, "POST", "/api/sync", {"scope": "groups"}).status_code == 202
    assert admin(client, "POST", "/api/sync", {"scope": "contacts"}).status_code == 409
    admin(client, "PATCH", "/api/settings", {"contacts": {"shared": {"enabled": True}}})
    assert admin(client, "POST", "/api/sync", {"scope": "contacts"}).status_code == 202
    assert admin(client, "POST", "/api/sync", {"scope": "bogus"}).status_code == 400


def test_connection_needs_every_field_and_secret_rotation_needs_a_connection(
        client: FlaskClient) -> None:
    client.application.extensions["connection"].forget()
    missing = admin(client, "PUT", "/api/connection", {"tenant_id": "t"})
    rotation = admin(client, "POST", "/api/connection/secret", {"client_secret": "new"})

    assert missing.status_code == 400
    assert set(missing.json["fields"]) == {"client_id", "client_secret"}
    assert rotation.status_code == 409


def test_a_malformed_secret_expiry_is_a_field_error(client: FlaskClient) -> None:
    answer = admin(client, "PUT", "/api/connection", {"tenant_id": "t", "client_id": "c",
                                                      "client_secret": "s",
                                                      "client_secret_expires_at": "soon"})

    assert answer.status_code == 400 and "client_secret_expires_at" in answer.json["fields"]


def test_the_admin_page_is_served_without_data_or_secrets(client: FlaskClient) -> None:
    page = client.get("/")
    script = client.get("/static/console.js")

    assert page.status_code == 200 and page.mimetype == "text/html"  # the sign-in page
    assert '<script src="/static/console.js"' in page.get_data(as_text=True)
    assert 'data-api="/api/session"' in page.get_data(as_text=True)
    assert script.status_code == 200 and "X-Requested-With" in script.get_data(as_text=True)
    assert "pbx-secret" not in page.get_data(as_text=True) + script.get_data(as_text=True)


def test_group_sync_pause_refuses_its_settings_and_resume_runs_it(client: FlaskClient,
                                                                  broker: StubBroker) -> None:
    admin(client, "PATCH", "/api/settings", {"groups": {"enabled": True}})

    paused = admin(client, "POST", "/api/group-sync/pause", {"delete_groups": False})
    refused = admin(client, "PATCH", "/api/settings", {"groups": {"range": "types"}})
    bad = admin(client, "POST", "/api/group-sync/pause", {"delete_groups": "yes"})
    resumed = admin(client, "POST", "/api/group-sync/resume")

    assert paused.status_code == 200 and paused.json["flags"]["groups_paused"] is True
    assert paused.json["run_id"] is None and refused.status_code == 409
    assert refused.json["reason"] == "paused"
    assert bad.status_code == 400 and "delete_groups" in bad.json["fields"]
    assert resumed.json["flags"]["groups_paused"] is False and resumed.json["run_id"]
    assert messages(broker)[-1]["args"][0] == resumed.json["run_id"]
