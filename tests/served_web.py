"""The web app alone on a loopback port, for the tests that speak HTTP to it: the test Redis, a
stub broker, and Graph, Entra and the PBX at a closed port (anything that calls them fails at
once). Seeded with a connected tenant, sign-in on, subscriptions and one synced user."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import redis
import requests
from dramatiq.brokers.stub import StubBroker
from flask import Flask

from core.config import Settings
from core.connection import Credentials
from core.presence.subscription import resource_for
from core.secret_box import SecretBox
from core.sync_settings import defaults, merge
from core.users.records import Link
from sandbox.redis_server import free_port
from sandbox.serve import ServedApp
from webhook import create_app
from webhook.auth import SESSION_COOKIE, signer
from webhook.sso import BROWSER_COOKIE

TOKEN = secrets.token_urlsafe(32)
USER_ID, NUMBER = "11111111-2222-3333-4444-555555555555", "1001"
CLIENT_STATE = "the-client-state"
SSO_STATE, PRESENCE_STATE = "sso-flow-state", "presence-flow-state"
SUBSCRIPTIONS = {"sub-users": "users", "sub-groups": "groups",
                 "sub-presence": resource_for([USER_ID])}


def settings_for(redis_url: str, public_base_url: str) -> Settings:
    closed = free_port()
    return Settings.from_env({
        "SECRET_KEY": secrets.token_urlsafe(36), "ADMIN_TOKEN": TOKEN, "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": public_base_url,
        "ENTRA_AUTHORITY_HOST": f"https://127.0.0.1:{closed}",
        "GRAPH_BASE_URL": f"https://127.0.0.1:{closed}/v1.0",
        "PBX_BASE_URL": f"http://127.0.0.1:{closed}", "PBX_CLIENT_ID": "id",
        "PBX_CLIENT_SECRET": "pbx-secret"})


def seed(app: Flask) -> dict[str, str]:
    """Redis emptied, then: a connected tenant with sign-in on, its subscriptions, one synced
    user, a sign-in and a presence authorization waiting for Entra's answer; the cookies of
    that user's session and of the browser that began the sign-in, and the CSRF token."""
    state = app.extensions["state"]
    settings = app.extensions["settings"]
    state.redis.flushdb()
    state.save_settings(merge(defaults(), {"schedule": {"timezone": "UTC"},
                                           "sso": {"enabled": True}}))
    state.set_flags(confirm=True, state="enabled")
    app.extensions["connection"].save(Credentials("tenant-1", "client-1", "entra-secret"))
    sealed = SecretBox(settings.secret_key).seal(CLIENT_STATE)
    for subscription_id, resource in SUBSCRIPTIONS.items():  # as the upkeep keeps them
        presence = {"user_ids": [USER_ID], "authorized_at": "2029-12-31T00:00:00Z"}
        app.extensions["subscriptions"].save({
            "id": subscription_id, "resource": resource, "change_type": "updated,deleted",
            "expires_at": "2030-01-01T00:00:00Z", "client_state": sealed,
            **(presence if subscription_id == "sub-presence" else {})})
    state.put_link(Link(USER_ID, 7, NUMBER, "Ada Lovelace"))
    csrf = secrets.token_urlsafe(16)
    session_id = app.extensions["sessions"].open({
        "kind": "sso", "user_id": USER_ID, "name": "Ada Lovelace", "number": NUMBER,
        "admin": False, "groups": [], "checked_at": time.time(), "csrf": csrf})
    with app.app_context():
        cookie = signer().dumps(session_id)
    browser = secrets.token_urlsafe(32)  # bound to the sign-in as webhook/sso.py binds it
    flow = {"redirect_uri": "http://127.0.0.1/sso/callback", "scope": ["User.Read"],
            "auth_uri": "https://127.0.0.1/authorize", "code_verifier": "v" * 43,
            "nonce": "n", "claims_challenge": None}
    state.put_flow("sso", flow | {"state": SSO_STATE, "browser": hashlib.sha256(
        f"sign-in browser {browser}".encode()).hexdigest()}, 600)
    state.put_flow("presence", flow | {"state": PRESENCE_STATE}, 600)
    return {"cookie": cookie, "csrf": csrf, "browser": browser}


class ServedWeb:
    """The web app served on 127.0.0.1; `seeded` holds the user's cookie and CSRF token."""

    def __init__(self, redis_url: str, public_base_url: str | None = None) -> None:
        port = free_port()
        self.broker = StubBroker()
        self.broker.declare_queue("default")
        self.app = create_app(
            settings_for(redis_url, public_base_url or f"http://127.0.0.1:{port}"),
            redis_client=redis.Redis.from_url(redis_url), broker=self.broker)

        @self.app.get("/_test/unexpected")
        def unexpected() -> Any:  # a bug's answer must carry the headers too
            raise RuntimeError("a bug")

        self.web = ServedApp(self.app, port=port)
        self.url = self.web.url
        self.port = port
        self.http = requests.Session()
        self.http.trust_env = False
        self.seeded = seed(self.app)

    def reseed(self) -> dict[str, str]:
        self.seeded = seed(self.app)
        return self.seeded

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=10, allow_redirects=False, **kwargs)

    def signed_in(self) -> requests.Session:
        """A browser with the synced user's session cookie."""
        browser = requests.Session()
        browser.trust_env = False
        browser.cookies.set(SESSION_COOKIE, self.seeded["cookie"])
        browser.cookies.set(BROWSER_COOKIE, self.seeded["browser"])
        return browser

    def cookies(self) -> str:
        """The Cookie header of that browser."""
        return (f"{SESSION_COOKIE}={self.seeded['cookie']}; "
                f"{BROWSER_COOKIE}={self.seeded['browser']}")

    def stop(self) -> None:
        self.web.stop()
        self.http.close()
