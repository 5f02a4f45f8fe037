"""SECRET_KEY: what is refused at start, one key to sign and another to seal, and a rotation
(SECRET_KEY_FALLBACKS) or a lost key that never turns into a 5xx."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from dramatiq.brokers.stub import StubBroker
from flask import Flask
from flask.testing import FlaskClient

from core.clients import graph_client, sandbox_environment
from core.config import Settings
from core.connection import ConnectionStore, Credentials
from core.errors import SealError, SyncError
from core.presence.subscription import PresenceAuthorization
from core.secret_box import SecretBox, signing_key
from core.store.redis import StateStore
from core.subscriptions import SubscriptionStore, maintain
from sandbox.runner import Sandbox
from sandbox.serve import ServedApp
from webhook import create_app

ROOT = Path(__file__).resolve().parent.parent
OLD_KEY = "keys-test-old-4tG9qW2eR7yU1iO6pA3sD8fH0jK5lZ"
NEW_KEY = "keys-test-new-Xc7Vb2Nm9Lk4Jh1Gf6Ds3Ap8Oi5Uy0T"
TOKEN = "keys-test-admin-token-Pq8Wm3Zr6Tn1Yx5Lc"
PBX = {"PBX_BASE_URL": "http://127.0.0.1:1", "PBX_CLIENT_ID": "id", "PBX_CLIENT_SECRET": "s"}
UNREADABLE = ("the stored client secret cannot be opened with SECRET_KEY: set "
              "SECRET_KEY_FALLBACKS to the old key, or connect again")
def app_with(env: dict[str, str], redis: Any = None) -> Flask:
    broker = StubBroker()
    broker.declare_queue("default")
    settings = Settings.from_env(PBX | {"ADMIN_TOKEN": TOKEN} | env)
    return create_app(settings, redis_client=redis or fakeredis.FakeRedis(), broker=broker)


def without_credentials(values: dict[str, str]) -> dict[str, str]:
    """The sandbox's environment with no first connection: the stored one is used."""
    return {k: v for k, v in sandbox_environment(values).items()
            if k not in ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET")}


def call(client: FlaskClient, method: str, path: str, body: Any = None) -> Any:
    return client.open(path, method=method, json=body,
                       headers={"Authorization": f"Bearer {TOKEN}"})


def seal_everything_under(key: str, state: StateStore, tenant: str = "tenant-1",
                          client_id: str = "client-1", secret: str = "entra-secret") -> None:
    """What an installation running with `key` left in Redis: the connection and its check,
    a users subscription, and an admin's presence authorization."""
    box = SecretBox(key)
    connection = ConnectionStore(state, box)
    connection.save(Credentials(tenant, client_id, secret))
    connection.record_check({"status": "connected", "tenant_id": tenant})
    SubscriptionStore(state, box).save({
        "id": "sub-1", "resource": "users", "change_type": "updated,deleted",
        "expires_at": "2030-01-01T00:00:00Z", "client_state": box.seal("the-client-state")})
    PresenceAuthorization(state, box).save(account="admin@contoso.com", user_id="admin-1",
                                           cache="{}", now=dt.datetime.now(dt.UTC))


def stored_seals(state: StateStore) -> list[str]:
    """Every seal in Redis: the client secret, the client states and the token cache."""
    keys = state.keys
    connection = json.loads(state.redis.get(keys.connection()))
    authorization = json.loads(state.redis.get(keys.presence("authorization")))
    return [connection["client_secret"], authorization["cache"],
            *(r["client_state"] for r in SubscriptionStore(state, SecretBox(NEW_KEY)).all()
              .values())]


def test_the_example_key_of_env_example_stops_a_process_at_start() -> None:
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text()
                   .splitlines() if line and not line.startswith("#"))
    env = os.environ | {k: v for k, v in example.items() if v} | PBX

    started = subprocess.run([sys.executable, "-m", "workers.clock"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)

    assert started.returncode != 0
    assert "SECRET_KEY is the example value" in started.stderr
    assert "secrets.token_urlsafe(48)" in started.stderr


def test_sealing_and_signing_keys_are_derived_apart_from_each_other() -> None:
    sealed = SecretBox(NEW_KEY).seal("a secret")
    signing = Fernet(base64.urlsafe_b64encode(signing_key(NEW_KEY)))
    raw = Fernet(base64.urlsafe_b64encode(NEW_KEY.encode()[:32]))

    for fernet in (signing, raw):
        with pytest.raises(InvalidToken):
            fernet.decrypt(sealed.rsplit(":", 1)[-1].encode())
    assert "a secret" not in sealed and SecretBox(NEW_KEY).open(sealed) == "a secret"


def test_a_seal_names_its_key_and_opens_with_that_key_in_the_fallbacks() -> None:
    old, rotated = SecretBox(OLD_KEY), SecretBox(NEW_KEY, (OLD_KEY,))
    sealed = old.seal("a secret")

    assert sealed.startswith(f"v1:{old.key_id}:") and old.key_id != rotated.key_id
    assert rotated.open(sealed) == "a secret" and rotated.stale(sealed)
    assert not rotated.stale(rotated.seal("a secret")) and not old.stale(sealed)


def test_a_seal_no_key_opens_is_a_seal_error_that_names_no_secret() -> None:
    sealed = SecretBox(OLD_KEY).seal("a secret")

    for box in (SecretBox(NEW_KEY), SecretBox(NEW_KEY, ("another-old-key",))):
        with pytest.raises(SealError) as caught:
            box.open(sealed)
        assert isinstance(caught.value, SyncError) and OLD_KEY not in str(caught.value)
    with pytest.raises(SealError):
        SecretBox(NEW_KEY).open("not a seal at all")


def test_a_seal_from_before_key_ids_opens_and_is_stale() -> None:
    legacy_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"entra-pbx-sync",
                      info=b"stored secrets").derive(OLD_KEY.encode())
    legacy = Fernet(base64.urlsafe_b64encode(legacy_key)).encrypt(b"a secret").decode()

    assert SecretBox(OLD_KEY).open(legacy) == "a secret" and SecretBox(OLD_KEY).stale(legacy)
    assert SecretBox(NEW_KEY, (OLD_KEY,)).open(legacy) == "a secret"
    with pytest.raises(SealError):
        SecretBox(NEW_KEY).open(legacy)


def test_a_lost_key_gives_no_5xx_and_status_says_how_to_recover() -> None:
    app = app_with({"SECRET_KEY": NEW_KEY})
    seal_everything_under(OLD_KEY, app.extensions["state"])
    client = app.test_client()

    status = call(client, "GET", "/api/status")
    shown = call(client, "GET", "/api/presence/authorization")
    revoked = call(client, "DELETE", "/api/presence/authorization")

    assert status.status_code == 200, status.json
    assert status.json["connection"]["status"] == "error"
    assert status.json["connection"]["reason"] == "secret_unreadable"
    assert status.json["connection"]["message"] == UNREADABLE
    notifications = status.json["presence"]["notifications"]
    assert notifications["authorized"] is False and "authorize again" in notifications["problem"]
    assert shown.status_code == 200 and shown.json["authorized"] is False
    assert revoked.status_code == 200 and revoked.json["authorized"] is False
    assert call(client, "GET", "/api/status").json["presence"]["notifications"] == {
        "authorized": False}


def test_a_lost_key_keeps_the_previous_check_for_when_the_key_comes_back() -> None:
    redis = fakeredis.FakeRedis()
    lost = app_with({"SECRET_KEY": NEW_KEY}, redis)
    seal_everything_under(OLD_KEY, lost.extensions["state"])
    assert call(lost.test_client(), "GET", "/api/status").json["connection"]["reason"] == \
        "secret_unreadable"

    back = app_with({"SECRET_KEY": OLD_KEY}, redis).test_client()

    assert call(back, "GET", "/api/status").json["connection"]["status"] == "connected"


def test_connecting_again_after_a_lost_key_needs_only_the_secret(sandbox: Sandbox) -> None:
    values = sandbox.describe()
    app = app_with(without_credentials(values) | {"SECRET_KEY": NEW_KEY})
    seal_everything_under(OLD_KEY, app.extensions["state"], values["tenant_id"],
                          values["client_id"], values["client_secret"])
    client = app.test_client()
    app.extensions["state"].set_flags(confirm=True, state="enabled")

    answer = call(client, "POST", "/api/connection/secret",
                  {"client_secret": values["client_secret"]})

    assert answer.status_code == 200 and answer.json["status"] == "connected"
    status = call(client, "GET", "/api/status").json
    assert status["state"] == "connected" and status["connection"]["status"] == "connected"


def test_a_rotated_key_keeps_the_workers_connected_and_seals_again(
        sandbox: Sandbox, redis_server: Any, state: StateStore) -> None:
    from workers.runtime import Runtime

    values = sandbox.describe()
    seal_everything_under(OLD_KEY, state, values["tenant_id"], values["client_id"],
                          values["client_secret"])
    runtime = Runtime(Settings.from_env(without_credentials(values) | {
        "SECRET_KEY": NEW_KEY, "REDIS_URL": redis_server.url,
        "SECRET_KEY_FALLBACKS": f"an-older-one,{OLD_KEY}"}))
    try:
        users = runtime.graph().request("GET", "users", params={"$top": "1"})
        opened = runtime.subscriptions.client_state("sub-1")
        cache = runtime.presence_authorization.cache()
    finally:
        runtime.close()

    assert "value" in users and opened == "the-client-state" and cache == "{}"
    new_id = SecretBox(NEW_KEY).key_id
    assert all(seal.startswith(f"v1:{new_id}:") for seal in stored_seals(state))
    only_new = SecretBox(NEW_KEY)
    assert only_new.open(stored_seals(state)[0]) == values["client_secret"]


def test_a_rotated_key_keeps_the_web_app_connected_and_seals_again() -> None:
    app = app_with({"SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": OLD_KEY})
    state = app.extensions["state"]
    seal_everything_under(OLD_KEY, state)

    status = call(app.test_client(), "GET", "/api/status").json

    assert status["connection"]["status"] == "connected"
    assert status["presence"]["notifications"]["authorized"] is True
    assert stored_seals(state)[0].startswith(f"v1:{SecretBox(NEW_KEY).key_id}:")


def test_the_web_app_signs_sessions_with_the_signing_key() -> None:
    app = app_with({"SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": OLD_KEY})

    assert app.secret_key == signing_key(NEW_KEY)
    assert app.config["SECRET_KEY_FALLBACKS"] == [signing_key(OLD_KEY)]


def test_a_notification_whose_client_state_no_key_opens_is_dropped_with_202() -> None:
    app = app_with({"SECRET_KEY": NEW_KEY})
    seal_everything_under(OLD_KEY, app.extensions["state"])
    client = app.test_client()
    item = {"id": "n1", "subscriptionId": "sub-1", "clientState": "the-client-state",
            "changeType": "updated", "resource": "Users/u1", "resourceData": {"id": "u1"}}

    answers = [client.post(path, json={"value": [item | extra]}) for path, extra in (
        ("/graph/notifications", {}),
        ("/graph/lifecycle", {"lifecycleEvent": "reauthorizationRequired"}))]

    assert [a.status_code for a in answers] == [202, 202]
    assert not app.extensions["broker"].queues["default"].queue
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'eps_notifications_total{outcome="unreadable_client_state"} 2.0' in metrics


def test_the_upkeep_replaces_a_subscription_whose_client_state_no_key_opens(
        sandbox: Sandbox) -> None:
    values = sandbox.describe()
    app = app_with(sandbox_environment(values) | {"SECRET_KEY": NEW_KEY})
    served = ServedApp(app)
    graph = graph_client(app.extensions["settings"])
    urls = {"notification_url": f"{served.url}/graph/notifications",
            "lifecycle_url": f"{served.url}/graph/lifecycle"}
    now = dt.datetime.now(dt.UTC)
    try:
        before = maintain(graph, SubscriptionStore(app.extensions["state"], SecretBox(OLD_KEY)),
                          now=now, **urls)
        after = maintain(graph, app.extensions["subscriptions"], now=now, **urls)
        at_graph = {s["id"] for s in graph.subscriptions()}
    finally:
        served.stop()

    assert {s["resource"] for s in after} == {s["resource"] for s in before} == {"users", "groups"}
    assert at_graph == {s["id"] for s in after} and not at_graph & {s["id"] for s in before}
    store = app.extensions["subscriptions"]
    assert all(store.opens(record) for record in store.all().values())
