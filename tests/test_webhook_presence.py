"""Presence notifications at the receiver: the user is the one `resourceData.id` names."""

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
from webhook import create_app

SETTINGS = Settings.from_env({"SECRET_KEY": "presence-webhook-key-Wm4Qx8Rt2Zk6Np1Vb9Hc3",
                              "PBX_BASE_URL": "http://127.0.0.1:1",
                              "PBX_CLIENT_ID": "id", "PBX_CLIENT_SECRET": "pbx-secret",
                              "ADMIN_TOKEN": "admin-token-for-presence-Jd7Lf3Xs9Qw2Mv5"})
ADA = "5a1f0c8e-3b7d-4e21-9c4a-0d2e6f8a1b3c"
BOB = "7c2e1d9f-4a8b-4f32-8d5b-1e3f7a9b2c4d"


@pytest.fixture
def client(broker: StubBroker) -> Iterator[FlaskClient]:
    app = create_app(SETTINGS, redis_client=fakeredis.FakeRedis(), broker=broker)
    app.extensions["subscriptions"].save({
        "id": "presence-1", "resource": f"communications/presences?$filter=id in ('{ADA}','{BOB}')",
        "change_type": "updated", "expires_at": "2030-01-01T00:00:00Z",
        "client_state": SecretBox(SETTINGS.secret_key).seal("presence-state")})
    app.extensions["connection"].save(Credentials("tenant-1", "client-1", "entra-secret"))
    yield app.test_client()


def item(**changes: Any) -> dict[str, Any]:
    """The basic presence notification Graph sends since June 2024 (Microsoft 365 Developer
    Blog, "Breaking changes to Microsoft Graph presence and online meeting basic change
    notifications"; tests/data/presence_notification_2024.json)."""
    return {"subscriptionId": "presence-1", "clientState": "presence-state",
            "changeType": "updated",
            "resource": f"communications/presences?$filter=id+in+(%27{BOB}%27)",
            "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z", "tenantId": "t",
            "resourceData": {"@odata.type": "#Microsoft.Graph.presence",
                             "@odata.id": f"users/{BOB}/presence", "id": BOB}} | changes


def accepted(broker: StubBroker) -> list[dict[str, Any]]:
    (message,) = [json.loads(m) for m in broker.queues["default"].queue]
    assert message["actor_name"] == "note_changes"
    return list(message["args"][0])


def test_the_user_of_a_presence_notification_is_the_one_resource_data_names(
        client: FlaskClient, broker: StubBroker) -> None:
    odd = item(resource=f"communications/presences/{ADA}")  # resourceData wins over resource

    answer = client.post("/graph/notifications", json={"value": [item(), odd]})

    assert answer.status_code == 202
    assert [(i["kind"], i["user_id"]) for i in accepted(broker)] == [
        ("presence", BOB), ("presence", BOB)]


def test_without_resource_data_the_user_is_the_last_id_in_the_resource(
        client: FlaskClient, broker: StubBroker) -> None:
    older = item(resource=f"communications/presences/{ADA}")
    del older["resourceData"]
    filtered = item()
    del filtered["resourceData"]

    client.post("/graph/notifications", json={"value": [older, filtered]})

    assert [i["user_id"] for i in accepted(broker)] == [ADA, BOB]


def test_a_presence_notification_naming_no_user_is_dropped(client: FlaskClient,
                                                           broker: StubBroker) -> None:
    nameless = item(resource="communications/presences")
    del nameless["resourceData"]

    answer = client.post("/graph/notifications", json={"value": [nameless, item()]})

    assert answer.status_code == 202
    assert [i["user_id"] for i in accepted(broker)] == [BOB]


def test_resource_data_that_is_not_an_object_is_refused(client: FlaskClient,
                                                        broker: StubBroker) -> None:
    answer = client.post("/graph/notifications", json={"value": [item(resourceData="x")]})

    assert answer.status_code == 400 and "resourceData" in answer.get_json()["error"]
    assert len(broker.queues["default"].queue) == 0
