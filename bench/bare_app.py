"""The baselines of bench/webhook_load.py, served by the same gunicorn settings as the webhook.

`create_app`: a bare Flask endpoint that answers 202 and does nothing.
`create_enqueue_app`: the same, plus the one Dramatiq message per accepted batch that the
design requires (a fixed message, nothing parsed or checked): the floor any webhook with that
design can reach on the machine.
"""

from __future__ import annotations

import os

from flask import Flask

from workers.broker import NOTE_CHANGES, make_broker, send

CHANGE = {"kind": "users", "id": "floor", "change_type": "updated", "resource": "Users/floor"}


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/graph/notifications")
    def notifications() -> tuple[str, int]:
        return "", 202

    return app


def create_enqueue_app() -> Flask:
    app = Flask(__name__)
    broker = make_broker(os.environ["REDIS_URL"])

    @app.post("/graph/notifications")
    def notifications() -> tuple[str, int]:
        send(broker, NOTE_CHANGES, [CHANGE])
        return "", 202

    return app
