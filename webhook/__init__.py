"""The web app: health endpoints and the `sync` command; Graph notifications and the admin API
build on it."""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, jsonify

from core.config import Settings
from webhook import cli


def create_app(settings: Settings | None = None, *, redis_client: redis.Redis | None = None) -> Flask:
    """The Flask app; `settings` default to the environment."""
    settings = settings or Settings.from_env(os.environ)
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.extensions["settings"] = settings
    store = redis_client or redis.Redis.from_url(settings.redis_url, socket_timeout=2,
                                                 socket_connect_timeout=2)
    app.extensions["redis"] = store

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        try:
            store.ping()
        except redis.RedisError as exc:
            return jsonify(status="unavailable", redis=type(exc).__name__), 503
        return jsonify(status="ready"), 200

    cli.register(app)
    return app
