"""Live health (issue item 4): each part's permissions proved by a minimal read, a 403 named by
its permission, the PBX checked by a token and one read, kept in Redis and shown by status."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient

from core.clients import pbx_client, sandbox_environment
from core.config import Settings
from core.connection import Credentials
from core.graph.client import GraphClient
from core.health import check_parts, check_pbx
from core.health.check import same_rules, zone_named
from core.health.probes import probes_for
from core.pbx.client import PbxClient
from core.sync_settings import defaults, merge
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.conftest import Control
from webhook import create_app
from workers import health
from workers.runtime import Runtime

TOKEN = "health-test-admin-token-0123456789"
SECRET = "health-test-key-Q7wX2mZ9pL4kV8nR3tY6bC1d"
NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
EVERYTHING = {"users": {"enabled": True}, "groups": {"enabled": True},
              "contacts": {"personal": {"enabled": True}, "shared": {"enabled": True}},
              "presence": {"enabled": True}, "schedule": {"timezone": "Europe/Paris"}}


def permissions(part: str, patch: dict[str, Any]) -> list[str]:
    return [p.permission for p in probes_for(part, merge(defaults(), patch))]


def test_each_part_is_checked_by_reads_that_need_exactly_its_permissions() -> None:
    by_groups = EVERYTHING | {"users": {"enabled": True, "range": "groups", "group_ids": ["g1"]}}
    named = EVERYTHING | {"contacts": {"personal": {"enabled": False}, "shared": {
        "enabled": True, "range": "mailboxes",
        "mailboxes": [{"mailbox": "desk@contoso.com", "phonebook": "Desk"}]}}}

    assert permissions("users", EVERYTHING) == ["User.Read.All"]
    assert permissions("users", by_groups) == ["User.Read.All", "Group.Read.All"]
    assert permissions("groups", EVERYTHING) == ["Group.Read.All"]
    assert permissions("contacts", EVERYTHING) == ["User.Read.All", "Contacts.Read",
                                                   "MailboxSettings.Read"]
    assert permissions("contacts", named) == ["User.Read.All", "Contacts.Read"]
    assert permissions("presence", EVERYTHING) == ["Presence.Read.All"]


@pytest.mark.parametrize(("revoked", "part"), [
    ("MailboxSettings.Read", "contacts"), ("Contacts.Read", "contacts"),
    ("Presence.Read.All", "presence"), ("Group.Read.All", "groups")])
def test_a_permission_taken_away_is_named_on_the_part_that_needs_it(
        sandbox: Sandbox, graph: GraphClient, graph_control: Control, revoked: str,
        part: str) -> None:
    seed_tenant(sandbox.graph_store, 12)
    graph_control.post("config", {"revoke": [revoked]})  # before the check's token is issued
    on = dict.fromkeys(("users", "groups", "contacts", "presence"), True)

    entries = check_parts(graph, on, merge(defaults(), EVERYTHING), [], NOW)

    assert entries[part]["ok"] is False
    assert entries[part]["problems"] == [f"{part}: {revoked} not granted"]
    assert all(e["ok"] for name, e in entries.items() if name != part), entries
    assert "User.Read.All" in entries["users"]["granted"]


def test_a_part_that_is_off_is_not_checked_and_a_missing_group_is_named(
        sandbox: Sandbox, graph: GraphClient) -> None:
    seed_tenant(sandbox.graph_store, 12)
    document = merge(defaults(), EVERYTHING | {"users": {
        "enabled": True, "range": "groups", "group_ids": ["0000dead-0000-4000-8000-000000000000"]}})
    on = {"users": True, "groups": False, "contacts": False, "presence": False}

    entries = check_parts(graph, on, document, [], NOW)

    assert entries["groups"] == {"ok": True, "problems": [], "checked_at": NOW.isoformat(),
                                 "on": False}
    assert entries["users"]["problems"] == [
        "users: read the members of group 0000dead-0000-4000-8000-000000000000 (the user "
        "range): the group no longer exists in Entra ID"]


def test_the_pbx_is_checked_by_a_token_and_one_read(sandbox: Sandbox, settings: Settings,
                                                   pbx: PbxClient, pbx_control: Control) -> None:
    healthy = check_pbx(lambda: pbx, NOW, "Europe/Paris")
    pbx_control.fault(path="/openapi/v1.0/extension/list", status=200, errcode=20006)
    refused = check_pbx(lambda: pbx, NOW, "Europe/Paris")
    wrong = pbx_client(Settings.from_env(
        sandbox_environment(sandbox.describe()) | {"SECRET_KEY": SECRET,
                                                   "PBX_CLIENT_SECRET": "not-the-secret"}))
    locked_out = check_pbx(lambda: wrong, NOW, None)

    assert healthy == {"ok": True, "problems": [], "checked_at": NOW.isoformat(),
                       "timezone": None}  # the simulator has no timezone/list (errcode 10001)
    assert refused["ok"] is False
    assert refused["problems"][0].startswith("pbx: the extension list was refused: errcode 20006")
    assert locked_out["problems"][0].startswith("pbx: the PBX refused the API credentials")


def test_the_pbx_time_zone_is_read_where_offered_and_a_different_schedule_zone_is_named(
        pbx: PbxClient, pbx_control: Control) -> None:
    pbx_control.post("config", {"timezone": "UTC+8 Asia/Shanghai"})  # newer firmware

    same = check_pbx(lambda: pbx, NOW, "Asia/Shanghai")
    other = check_pbx(lambda: pbx, NOW, "Europe/Paris")

    assert same["ok"] and same["timezone"] == "Asia/Shanghai"
    assert other["problems"] == ["pbx: the schedule runs in Europe/Paris but the PBX's time zone "
                                 "is Asia/Shanghai: set schedule.timezone to Asia/Shanghai"]
    assert zone_named("UTC-5 America/New_York") == "America/New_York"
    assert zone_named("UTC+8") is None
    assert same_rules("Asia/Calcutta", "Asia/Kolkata", NOW)


# the worker's check and what status shows ------------------------------------------------
@pytest.fixture
def stack(sandbox: Sandbox, redis_server: Any) -> Iterator[tuple[Runtime, FlaskClient,
                                                                  StubBroker]]:
    seed_tenant(sandbox.graph_store, 12)
    env = {k: v for k, v in sandbox_environment(sandbox.describe()).items()
           if k not in ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET")}
    settings = Settings.from_env(env | {"SECRET_KEY": SECRET, "ADMIN_TOKEN": TOKEN,
                                        "REDIS_URL": redis_server.url})
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    broker = StubBroker()
    broker.declare_queue("default")
    rt = Runtime(settings)
    app = create_app(settings, redis_client=client, broker=broker)
    yield rt, app.test_client(), broker
    rt.close()
    client.flushdb()
    client.close()


def call(web: FlaskClient, method: str, path: str, body: Any = None) -> Any:
    return web.open(path, method=method, json=body, headers={"Authorization": f"Bearer {TOKEN}"})


def asked(broker: StubBroker) -> list[list[Any]]:
    return [json.loads(m)["args"] for m in broker.queues["default"].queue
            if json.loads(m)["actor_name"] == "check_health"]


def test_status_shows_the_live_check_and_asks_for_one_when_it_is_due(
        stack: tuple[Runtime, FlaskClient, StubBroker], sandbox: Sandbox,
        graph_control: Control) -> None:
    rt, web, broker = stack
    values = sandbox.describe()
    connected = call(web, "PUT", "/api/connection", {
        "tenant_id": values["tenant_id"], "client_id": values["client_id"],
        "client_secret": values["client_secret"]})
    before = call(web, "GET", "/api/status").json
    saved = call(web, "PATCH", "/api/settings", {
        "contacts": {"shared": {"enabled": True}}, "schedule": {"timezone": "Europe/Paris"}})
    graph_control.post("config", {"revoke": ["MailboxSettings.Read"]})

    health.check(rt)
    after = call(web, "GET", "/api/status").json
    again = call(web, "POST", "/api/health/check")
    twice = call(web, "POST", "/api/health/check")

    assert connected.status_code == 200 and saved.status_code == 200
    assert asked(broker)[0] == ["connected"]  # the first check is asked for at connect
    assert set(before["health"]) == {"users", "groups", "contacts", "presence", "pbx"}
    assert before["health"]["pbx"]["ok"] is False  # not checked yet
    assert after["health"]["contacts"]["problems"] == ["contacts: MailboxSettings.Read not granted"]
    assert after["health"]["contacts"]["ok"] is False
    assert after["health"]["users"] == after["health"]["users"] | {"ok": True, "on": False}
    assert after["health"]["pbx"]["ok"] is True and after["health"]["pbx"]["checked_at"]
    assert after["connection"]["status"] == "connected"
    assert after["connection"]["checked_at"] > before["connection"]["checked_at"]
    assert after["schedule"]["scheduled"] is True and after["schedule"]["timezone"] == "Europe/Paris"
    assert again.status_code == 202 and again.json["queued"] is True
    assert twice.status_code == 202 and twice.json["queued"] is False
    assert asked(broker)[-1] == ["asked"] and len(asked(broker)) == 2


def test_the_secret_expiry_warning_is_computed_on_every_status_read(
        stack: tuple[Runtime, FlaskClient, StubBroker]) -> None:
    rt, web, _ = stack
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).isoformat()
    rt.connection.save(Credentials("tenant", "client", "secret", soon))
    rt.connection.record_check({"status": "connected", "checked_at": NOW.isoformat()})

    shown = call(web, "GET", "/api/status").json["connection"]

    assert shown["status"] == "connected" and shown["secret_expires_at"] == soon
    assert "expires in 5 days" in shown["warning"] or "expires in 4 days" in shown["warning"]


def test_a_failed_run_asks_for_one_check_within_five_minutes(
        stack: tuple[Runtime, FlaskClient, StubBroker]) -> None:
    from core.engine.runs import Run

    rt, _, _ = stack
    failed = Run.new("users", trigger="schedule")
    failed.state = "failed"
    fine = Run.new("users", trigger="schedule")
    fine.state = "succeeded"

    sent = [health.after_failed_run(rt, fine), health.after_failed_run(rt, failed),
            health.after_failed_run(rt, failed)]

    assert sent == [False, True, False]
