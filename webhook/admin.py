"""`/`: the admin page, a thin client of the admin JSON API (no data of its own)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

blueprint = Blueprint("admin", __name__)
STATIC = Path(__file__).parent / "static"


@blueprint.get("/")
def page() -> Response:
    return send_from_directory(STATIC, "admin.html", mimetype="text/html", max_age=0)


@blueprint.get("/admin.js")
def script() -> Response:
    return send_from_directory(STATIC, "admin.js", mimetype="text/javascript", max_age=0)
