"""The web app: Graph's notification endpoints, the admin API, health, metrics and the CLI."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from core import logs
from core.config import Settings
from core.connection import ConnectionStore, Credentials, client_for, sign_in_for
from core.debounce import Debouncer
from core.errors import ConfigError
from core.secret_box import SecretBox
from core.store.redis import StateStore
from core.subscriptions import SubscriptionStore
from webhook import (
    api,
    api_audit,
    api_connection,
    api_preview,
    api_provision,
    api_runs,
    api_session,
    api_switches,
    auth,
    cli,
    console,
    console_directory,
    console_runs,
    console_settings,
    entra_api,
    hardening,
    labels,
    notifications,
    presence_auth,
    sso,
)
from webhook.limits import Limiter
from webhook.metrics import Metrics
from webhook.sessions import NoCookieSession, Sessions
from workers.broker import make_broker


def create_app(settings: Settings | None = None, *, redis_client: redis.Redis | None = None,
               broker: Any = None) -> Flask:
    """The Flask app; `settings` default to the environment."""
    if settings is None:
        settings = Settings.from_env(os.environ)
        logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    app = Flask(__name__)
    if settings.trusted_proxy_hops:  # behind TLS proxies: the client's address and scheme
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops,  # type: ignore[method-assign]
                                x_host=hops)
    # sessions live in Redis (webhook/sessions.py); the key signs the cookie's session id
    app.config.update(SECRET_KEY=settings.signing_key,
                      SECRET_KEY_FALLBACKS=list(settings.signing_key_fallbacks),
                      MAX_CONTENT_LENGTH=hardening.MAX_BODY)
    app.session_interface = NoCookieSession()  # sessions live in Redis, not in a cookie
    # security headers on every answer; a JSON endpoint's body is one JSON object, or 400
    hardening.install(app, https=(settings.public_base_url or "").startswith("https://"))
    labels.install(app)  # the Teams and extension status words, in every template
    client = redis_client or redis.Redis.from_url(settings.redis_url, socket_timeout=5,
                                                  socket_connect_timeout=2)
    state = StateStore(client)
    box = SecretBox(settings.secret_key, settings.secret_key_fallbacks)
    subscriptions = SubscriptionStore(state, box)
    app.extensions.update(
        settings=settings, redis=client, state=state, box=box,
        connection=ConnectionStore(state, box), subscriptions=subscriptions,
        client_states=notifications.ClientStates(subscriptions),
        debouncer=Debouncer(client, window=settings.debounce_window_seconds,
                            max_changes=settings.debounce_max_changes),
        broker=broker or make_broker(settings.redis_url), metrics=Metrics(state),
        sessions=Sessions(client, state.keys), limiter=Limiter(client, state.keys))
    app.register_blueprint(notifications.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(api_runs.blueprint)
    app.register_blueprint(api_preview.blueprint)
    app.register_blueprint(api_connection.blueprint)
    app.register_blueprint(api_switches.blueprint)
    app.register_blueprint(api_audit.blueprint)
    app.register_blueprint(api_provision.blueprint)
    app.register_blueprint(api_session.blueprint)
    app.register_blueprint(sso.blueprint)
    app.register_blueprint(presence_auth.blueprint)
    app.register_blueprint(entra_api.blueprint)
    app.register_blueprint(console.blueprint)
    app.register_blueprint(console_directory.blueprint)
    app.register_blueprint(console_runs.blueprint)
    app.register_blueprint(console_settings.blueprint)

    def per_credentials(build: Callable[[Settings, Credentials], Any]) -> Callable[[], Any]:
        """One object a process for the stored credentials, built again for new ones: a
        Graph client (MSAL keeps its token until near expiry) or the sign-in app (MSAL's
        discovery is done once, not on every /sso/login)."""
        cached: list[tuple[Credentials, Any]] = []
        lock = threading.Lock()

        def current() -> Any:
            credentials = app.extensions["connection"].credentials(settings)
            if credentials is None:
                raise ConfigError(["not connected: no Entra ID credentials are set"])
            with lock:
                if not cached or cached[0][0] != credentials:
                    cached[:] = [(credentials, build(settings, credentials))]
                return cached[0][1]

        return current

    app.extensions["graph"] = per_credentials(client_for)
    app.extensions["sign_in"] = per_credentials(sign_in_for)
    app.after_request(auth.end_sso_sessions_when_closed)
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
