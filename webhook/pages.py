"""The plain HTML pages of sign-in, presence authorization and `/me`, from webhook/templates/.

No inline script or style anywhere: the Content-Security-Policy (webhook/hardening.py) allows
only our own files.
"""

from __future__ import annotations

from typing import Any

from flask import Response, render_template


def page(title: str, message: str = "", status: int = 200) -> Response:
    """A page with `title` and `message` (sign-in answers, errors)."""
    body = render_template("message.html", title=title, message=message)
    return Response(body, status=status, mimetype="text/html")


def me_page(status: int = 200, **context: Any) -> Response:
    """A signed-in user's own page: their extension, Linkus login and presence settings."""
    body = render_template("me.html", title="My extension", **context)
    return Response(body, status=status, mimetype="text/html")
