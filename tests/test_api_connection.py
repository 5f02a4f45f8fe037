"""C1/C2 through the admin API: the check against the Graph simulator, rotation, no secret out."""

from __future__ import annotations

import json
from typing import Any

import fakeredis
import pytest
from dramatiq.brokers.stub import StubBroker
from flask.testing import FlaskClient

from core.clients import sandbox_environment
from core.config import Settings
from sandbox.runner import Sandbox
from tests.conftest import Control
from webhook import create_app

TOKEN = "connection-test-token-Jw7Qz2Xk5Nd9Lr3Vm"


@pytest.fixture
def client(sandbox: Sandbox) -> FlaskClient:
    env = {k: v for k, v in sandbox_environment(sandbox.describe()).items()
           if k not in ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET")}
    settings = Settings.from_env(env | {"SECRET_KEY": "api-connection-Zt3Qn8Wd1Kx6Lm4Vr9",
                                        "ADMIN_TOKEN": TOKEN})
    broker = StubBroker()
    broker.declare_queue("default")
    return create_app(settings, redis_client=fakeredis.FakeRedis(), broker=broker).test_client()


def call(client: FlaskClient, method: str, path: str, body: Any = None) -> Any:
    return client.open(path, method=method, json=body,
                       headers={"Authorization": f"Bearer {TOKEN}"})


def credentials(sandbox: Sandbox, **changes: str) -> dict[str, str]:
    values = sandbox.describe()
    return {"tenant_id": values["tenant_id"], "client_id": values["client_id"],
            "client_secret": values["client_secret"]} | changes


def test_good_credentials_connect_and_are_never_shown(client: FlaskClient,
                                                      sandbox: Sandbox) -> None:
    secret = sandbox.graph_store.app.client_secret

    answer = call(client, "PUT", "/api/connection", credentials(sandbox))
    status = call(client, "GET", "/api/status")

    assert answer.status_code == 200 and answer.json["status"] == "connected"
    assert status.json["state"] == "connected"
    assert status.json["connection"]["status"] == "connected"
    values = sandbox.describe()
    assert status.json["setup"]["admin_consent_url"] == (
        f"{values['authority_host']}/{values['tenant_id']}/adminconsent"
        f"?client_id={values['client_id']}")
    everything = json.dumps([answer.json, status.json, call(client, "GET", "/api/settings").json])
    assert secret not in everything
    stored = client.application.extensions["redis"]
    values = [stored.get(k) for k in stored.scan_iter() if stored.type(k) == b"string"]
    assert values and all(secret.encode() not in v for v in values)


@pytest.mark.parametrize(("change", "reason"), [
    ({"client_secret": "wrong"}, "bad_secret"),
    ({"tenant_id": "00000000-0000-0000-0000-000000000000"}, "tenant_not_found"),
    ({"client_id": "11111111-1111-1111-1111-111111111111"}, "app_not_found"),
])
def test_bad_credentials_get_a_precise_reason_and_are_not_kept(
        client: FlaskClient, sandbox: Sandbox, change: dict[str, str], reason: str) -> None:
    answer = call(client, "PUT", "/api/connection", credentials(sandbox, **change))

    assert answer.status_code == 422 and answer.json["reason"] == reason
    assert call(client, "GET", "/api/status").json["state"] == "not_configured"


def test_missing_consent_is_named(client: FlaskClient, sandbox: Sandbox,
                                  graph_control: Control) -> None:
    graph_control.post("config", {"granted_roles": []})

    answer = call(client, "PUT", "/api/connection", credentials(sandbox))

    assert answer.json["reason"] == "consent_missing"


def test_secret_rotation_keeps_everything_else_and_uses_the_new_secret(
        client: FlaskClient, sandbox: Sandbox) -> None:
    call(client, "PUT", "/api/connection", credentials(sandbox))
    call(client, "PATCH", "/api/settings", {"safety": {"max_deletions": 7}})
    sandbox.graph_store.app.client_secret = "the-new-secret-value"

    answer = call(client, "POST", "/api/connection/secret",
                  {"client_secret": "the-new-secret-value",
                   "client_secret_expires_at": "2026-12-01T00:00:00Z"})

    stored = client.application.extensions["connection"].credentials(
        client.application.extensions["settings"])
    assert answer.status_code == 200 and answer.json["status"] == "connected"
    assert stored.client_secret == "the-new-secret-value"
    assert "warning" in answer.json  # the new secret expires within two weeks
    assert call(client, "GET", "/api/settings").json["safety"]["max_deletions"] == 7


def test_the_group_picker_pages_200_at_a_time_and_searches_by_name(
        client: FlaskClient, sandbox: Sandbox) -> None:
    assert call(client, "GET", "/api/entra/groups").status_code == 409  # not connected yet
    call(client, "PUT", "/api/connection", credentials(sandbox))
    store = sandbox.graph_store
    with store.lock:
        for n in range(230):
            store.put_group({"id": f"00000000-0000-4000-8000-{n:012d}",
                              "displayName": f"Team {n:03d}", "groupTypes": ["Unified"] if n % 2
                              else [], "securityEnabled": not n % 2, "mailEnabled": bool(n % 2),
                              "description": None, "mail": None, "visibility": None})

    first = call(client, "GET", "/api/entra/groups")
    second = call(client, "GET", f"/api/entra/groups?cursor={first.json['next']}")
    found = call(client, "GET", "/api/entra/groups?search=12")  # a word of the name starts so
    evil = call(client, "GET", "/api/entra/groups?cursor=x&search=" + "a" * 200)

    names = [g["name"] for g in first.json["groups"] + second.json["groups"]]
    assert len(first.json["groups"]) == 200 and second.json["next"] is None
    assert [n for n in names if n.startswith("Team")] == [f"Team {n:03d}" for n in range(230)]
    assert names == sorted(names, key=str.lower)
    assert [g["name"] for g in found.json["groups"]] == [f"Team {n}" for n in range(120, 130)]
    team_1 = next(g for g in first.json["groups"] if g["name"] == "Team 001")
    team_2 = next(g for g in first.json["groups"] if g["name"] == "Team 002")
    assert (team_1["type"], team_2["type"]) == ("microsoft365", "security")
    assert evil.status_code == 400


def test_the_shared_mailbox_picker_lists_only_shared_mailboxes(client: FlaskClient,
                                                              sandbox: Sandbox) -> None:
    from sandbox.seed import seed_tenant

    seed_tenant(sandbox.graph_store, 120)  # disabled members too, and two shared mailboxes
    call(client, "PUT", "/api/connection", credentials(sandbox))

    answer = call(client, "GET", "/api/entra/shared-mailboxes")

    domain = sandbox.graph_store.domain
    assert answer.status_code == 200
    assert [(m["name"], m["mail"]) for m in answer.json["mailboxes"]] == [
        ("Reception", f"reception@{domain}"), ("Sales Desk", f"sales-desk@{domain}")]
