"""The schedule's time zone (issue item 6): M1 runs in the PBX's time zone, which the
administrator chooses at the first save of a sync part; never a silent UTC."""

from __future__ import annotations

import json
from typing import Any

import fakeredis
import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient

from core.config import Settings
from core.connection import Credentials
from core.sync_settings import SettingsInvalid, defaults, merge
from webhook import create_app

TOKEN = "schedule-zone-admin-token-0123456789"
SETTINGS = Settings.from_env({"SECRET_KEY": "zone-test-key-Hq3Lm8Xw2Rv6Tn9Pb4Kc7Jd1",
                              "PBX_BASE_URL": "http://127.0.0.1:1", "PBX_CLIENT_ID": "id",
                              "PBX_CLIENT_SECRET": "pbx-secret", "ADMIN_TOKEN": TOKEN})
NO_ZONE = {"schedule.timezone": ["choose the PBX's time zone"]}


@pytest.fixture
def client(broker: StubBroker) -> FlaskClient:
    app = create_app(SETTINGS, redis_client=fakeredis.FakeRedis(), broker=broker)
    app.extensions["connection"].save(Credentials("tenant-1", "client-1", "entra-secret"))
    app.extensions["state"].set_flags(confirm=True, state="enabled")
    return app.test_client()


def admin(client: FlaskClient, method: str, path: str, body: Any = None) -> Any:
    return client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {TOKEN}"})


def runs_queued(broker: StubBroker) -> int:
    return sum(1 for m in broker.queues["default"].queue if json.loads(m)["actor_name"] == "run_sync")


def test_the_settings_have_no_time_zone_until_one_is_chosen() -> None:
    assert defaults()["schedule"]["timezone"] is None
    assert merge(defaults(), {"safety": {"max_deletions": 3}})["schedule"]["timezone"] is None
    with pytest.raises(SettingsInvalid) as refused:
        merge(defaults(), {"groups": {"enabled": True}})
    assert refused.value.errors == NO_ZONE
    chosen = merge(defaults(), {"schedule": {"timezone": "Europe/Paris"}})
    assert merge(chosen, {"contacts": {"personal": {"enabled": True}}})["contacts"]
    with pytest.raises(SettingsInvalid) as unknown:
        merge(defaults(), {"users": {"enabled": True}, "schedule": {"timezone": "Mars/Olympus"}})
    assert list(unknown.value.errors) == ["schedule.timezone"]
    assert "unknown time zone" in unknown.value.errors["schedule.timezone"][0]


def test_the_first_save_that_turns_a_part_on_must_choose_the_time_zone(
        client: FlaskClient, broker: StubBroker) -> None:
    unscheduled = admin(client, "GET", "/api/status").json["schedule"]
    refused = admin(client, "PATCH", "/api/settings", {"users": {"enabled": True}})
    presence = admin(client, "PATCH", "/api/settings", {"presence": {"enabled": True}})
    first = admin(client, "PATCH", "/api/settings", {"users": {"enabled": True},
                                                     "schedule": {"timezone": "Europe/Paris"}})
    scheduled = admin(client, "GET", "/api/status").json["schedule"]
    cleared = admin(client, "PATCH", "/api/settings", {"schedule": {"timezone": None}})

    assert unscheduled["scheduled"] is False and unscheduled["next_run"] is None
    assert "choose the PBX's time zone" in unscheduled["message"]
    assert refused.status_code == 400 and refused.json["fields"] == NO_ZONE
    assert presence.status_code == 200  # presence is not scheduled: it needs no zone
    assert first.status_code == 200 and "run_id" in first.json and runs_queued(broker) == 1
    assert scheduled["scheduled"] is True and scheduled["timezone"] == "Europe/Paris"
    assert scheduled["next_run"] and scheduled["message"] is None
    assert cleared.status_code == 400 and cleared.json["fields"] == NO_ZONE

