"""The admin page's session: the admin token traded once for a server-side session cookie, and
failed admin authentication limited per client address; through Flask's client, on fakeredis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import fakeredis
import pytest
from dramatiq.brokers.stub import StubBroker
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer

from core.config import Settings
from webhook import create_app
from webhook.auth import SESSION_COOKIE, SESSION_SALT

TOKEN = "admin-token-for-session-tests-0123456789"
SETTINGS = Settings.from_env({"SECRET_KEY": "session-tests-Secret-Key-9f3c2b7a41d0e6",
                              "PBX_BASE_URL": "http://127.0.0.1:1", "PBX_CLIENT_ID": "id",
                              "PBX_CLIENT_SECRET": "pbx-secret", "ADMIN_TOKEN": TOKEN})
PAGE = {"X-Requested-With": "fetch"}


def make_app(settings: Settings = SETTINGS, redis: Any = None) -> Flask:
    broker = StubBroker()
    broker.declare_queue("default")
    return create_app(settings, redis_client=redis or fakeredis.FakeRedis(), broker=broker)


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    yield make_app().test_client()


def cookie_header(answer: Any) -> str:
    return next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE))


def test_the_admin_token_is_traded_for_a_strict_http_only_session_cookie(
        client: FlaskClient) -> None:
    answer = client.post("/api/session", json={"token": TOKEN})

    assert answer.status_code == 204
    cookie = cookie_header(answer)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert TOKEN not in cookie
    assert client.get("/api/settings", headers=PAGE).status_code == 200


def test_a_session_cookie_alone_changes_nothing_without_the_page_header(
        client: FlaskClient) -> None:
    client.post("/api/session", json={"token": TOKEN})

    assert client.patch("/api/settings", json={"safety": {"max_deletions": 1}}).status_code == 401
    assert client.get("/api/settings").status_code == 401


def test_ending_the_session_makes_its_cookie_worthless(client: FlaskClient) -> None:
    client.post("/api/session", json={"token": TOKEN})
    kept = client.get_cookie(SESSION_COOKIE).value

    ended = client.delete("/api/session", headers=PAGE)
    client.set_cookie(SESSION_COOKIE, kept)

    assert ended.status_code == 204
    assert client.get("/api/settings", headers=PAGE).status_code == 401


def test_a_wrong_token_gets_no_session(client: FlaskClient) -> None:
    answer = client.post("/api/session", json={"token": "wrong"})

    assert answer.status_code == 401 and client.get_cookie(SESSION_COOKIE) is None


def test_a_cookie_signed_with_the_right_key_for_an_unknown_session_is_refused(
        client: FlaskClient) -> None:
    forged = URLSafeSerializer(client.application.secret_key, salt=SESSION_SALT)
    client.set_cookie(SESSION_COOKIE, forged.dumps("an-unknown-session-id"))

    assert client.get("/api/settings", headers=PAGE).status_code == 401


def test_a_new_admin_token_ends_the_sessions_of_the_old_one() -> None:
    redis = fakeredis.FakeRedis()
    old = make_app(redis=redis).test_client()
    old.post("/api/session", json={"token": TOKEN})
    rotated = make_app(replace(SETTINGS, admin_token="another-admin-token-0123456789abcd"),
                       redis=redis).test_client()
    rotated.set_cookie(SESSION_COOKIE, old.get_cookie(SESSION_COOKIE).value)

    assert rotated.get("/api/settings", headers=PAGE).status_code == 401


def test_the_cookie_is_secure_when_the_public_address_is_https() -> None:
    app = make_app(replace(SETTINGS, public_base_url="https://pbx-sync.example.com"))

    answer = app.test_client().post("/api/session", json={"token": TOKEN},
                                    base_url="https://pbx-sync.example.com")

    assert "Secure" in cookie_header(answer)


def test_failed_admin_tokens_are_limited_per_client_address(client: FlaskClient) -> None:
    def bearer(token: str, address: str) -> Any:
        return client.get("/api/settings", headers={"Authorization": f"Bearer {token}"},
                          environ_base={"REMOTE_ADDR": address})

    failures = [bearer("wrong", "10.0.0.1").status_code for _ in range(9)]
    failures.append(client.post("/api/session", json={"token": "wrong"},
                                environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code)
    limited = bearer("wrong", "10.0.0.1")
    right_but_limited = client.post("/api/session", json={"token": TOKEN},
                                    environ_base={"REMOTE_ADDR": "10.0.0.1"})

    assert failures == [401] * 10
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert right_but_limited.status_code == 429
    assert bearer(TOKEN, "10.0.0.2").status_code == 200


def test_successful_admin_tokens_are_not_limited(client: FlaskClient) -> None:
    answers = [client.get("/api/settings", headers={"Authorization": f"Bearer {TOKEN}"})
               for _ in range(25)]

    assert {a.status_code for a in answers} == {200}


def test_the_admin_page_keeps_no_token_in_script_readable_storage(client: FlaskClient) -> None:
    script = client.get("/static/console.js").get_data(as_text=True)
    page = client.get("/").get_data(as_text=True)

    assert "sessionStorage" not in script and "localStorage" not in script
    assert 'data-api="/api/session"' in page


def test_behind_a_trusted_proxy_failures_are_counted_per_real_client() -> None:
    behind = replace(SETTINGS, trusted_proxy_hops=1)
    client = make_app(behind).test_client()

    def bearer(token: str, real: str) -> Any:  # every request reaches the app from the proxy
        return client.get("/api/settings", environ_base={"REMOTE_ADDR": "10.9.9.9"},
                          headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": real})

    attacker = [bearer("wrong", "203.0.113.7").status_code for _ in range(11)]

    assert attacker[-1] == 429
    assert bearer(TOKEN, "198.51.100.2").status_code == 200  # another client is not locked out


def test_an_auth_proxys_basic_header_is_not_a_failed_admin_token(client: FlaskClient) -> None:
    client.post("/api/session", json={"token": TOKEN})
    basic = {"Authorization": "Basic YWRtaW46cHJveHk=", **PAGE}

    answers = [client.get("/api/settings", headers=basic).status_code for _ in range(12)]

    assert answers == [200] * 12  # the page's session is used; nothing is counted against it


def test_the_cookie_is_secure_only_where_the_browser_will_send_it_back() -> None:
    app = make_app(replace(SETTINGS, public_base_url="https://pbx-sync.contoso.com"))
    client = app.test_client()

    public = client.post("/api/session", json={"token": TOKEN},
                         base_url="https://pbx-sync.contoso.com")
    internal = client.post("/api/session", json={"token": TOKEN}, base_url="http://10.0.0.5:8000")

    assert "Secure" in cookie_header(public)
    assert "Secure" not in cookie_header(internal)
