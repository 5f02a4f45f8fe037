"""The web app: Graph's notification endpoints, the admin API, health, metrics and the CLI."""

from __future__ import annotations

import os
import threading
from typing import Any

import redis
from flask import Flask, Request, Response, jsonify
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from core import logs
from core.config import Settings
from core.connection import ConnectionStore, client_for
from core.debounce import Debouncer
from core.errors import ConfigError
from core.secret_box import SecretBox
from core.store.redis import StateStore
from core.subscriptions import SubscriptionStore
from webhook import (
    admin,
    api,
    api_connection,
    api_switches,
    cli,
    entra_api,
    notifications,
    presence_auth,
    sso,
)
from webhook.metrics import Metrics
from workers.broker import make_broker

MAX_BODY = 1024 * 1024


class _Sessions(SecureCookieSessionInterface):
    """Signed-cookie sessions for sign-in and the admin page; Graph's endpoints open none."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/graph/"):
            return None  # Flask puts a null session in its place
        return super().open_session(app, request)


def create_app(settings: Settings | None = None, *, redis_client: redis.Redis | None = None,
               broker: Any = None) -> Flask:
    """The Flask app; `settings` default to the environment."""
    if settings is None:
        settings = Settings.from_env(os.environ)
        logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    app = Flask(__name__)
    app.session_interface = _Sessions()
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=MAX_BODY,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=(settings.public_base_url or "").startswith("https"))
    client = redis_client or redis.Redis.from_url(settings.redis_url, socket_timeout=5,
                                                  socket_connect_timeout=2)
    state = StateStore(client)
    box = SecretBox(settings.secret_key)
    subscriptions = SubscriptionStore(state, box)
    app.extensions.update(
        settings=settings, redis=client, state=state, box=box,
        connection=ConnectionStore(state, box), subscriptions=subscriptions,
        client_states=notifications.ClientStates(subscriptions),
        debouncer=Debouncer(client, window=settings.debounce_window_seconds,
                            max_changes=settings.debounce_max_changes),
        broker=broker or make_broker(settings.redis_url), metrics=Metrics(state))
    app.register_blueprint(notifications.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(api_connection.blueprint)
    app.register_blueprint(api_switches.blueprint)
    app.register_blueprint(sso.blueprint)
    app.register_blueprint(presence_auth.blueprint)
    app.register_blueprint(entra_api.blueprint)
    app.register_blueprint(admin.blueprint)

    cached: list[Any] = []  # (credentials, client): MSAL keeps the token until near expiry
    lock = threading.Lock()

    def graph() -> Any:
        """A Graph client for the stored credentials (sign-in and the admin's pickers); a new
        secret gets a new client at once."""
        credentials = app.extensions["connection"].credentials(settings)
        if credentials is None:
            raise ConfigError(["not connected: no Entra ID credentials are set"])
        with lock:
            if not cached or cached[0][0] != credentials:
                cached[:] = [(credentials, client_for(settings, credentials))]
            return cached[0][1]

    app.extensions["graph"] = graph
    cli.register(app)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        return jsonify(error=error.description or error.name), error.code or 500

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        app.logger.exception("unexpected error")
        return jsonify(error="internal error"), 500

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        try:
            client.ping()
        except redis.RedisError as exc:
            return jsonify(status="unavailable", redis=type(exc).__name__), 503
        return jsonify(status="ready"), 200

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(app.extensions["metrics"].render(),
                        mimetype="text/plain; version=0.0.4; charset=utf-8")

    return app
