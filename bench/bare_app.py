"""The baseline of bench/webhook_load.py: a bare Flask endpoint that answers 202 and does nothing."""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/graph/notifications")
    def notifications() -> tuple[str, int]:
        return "", 202

    return app
