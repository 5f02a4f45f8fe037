"""Health endpoints of the web app, against a real Redis and an unreachable one."""

from __future__ import annotations

import fakeredis
import redis

from core.config import Settings
from webhook import create_app

SETTINGS = Settings.from_env({"SECRET_KEY": "webhook-health-key-Gt5Lp1Xs8Qe3Wz7Kc2Vm9Rb",
                              "PBX_BASE_URL": "http://127.0.0.1:1",
                              "PBX_CLIENT_ID": "id", "PBX_CLIENT_SECRET": "secret"})


def test_ready_when_redis_answers() -> None:
    client = create_app(SETTINGS, redis_client=fakeredis.FakeRedis()).test_client()

    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_not_ready_when_redis_is_unreachable() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    client = create_app(SETTINGS, redis_client=dead).test_client()

    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json["status"] == "unavailable"
    assert client.get("/healthz").status_code == 200
