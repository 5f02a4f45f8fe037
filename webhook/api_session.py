"""`/api/session`: the admin page trades ADMIN_TOKEN once for a session cookie (HttpOnly,
SameSite=Strict, kept on the server), so no script of the page ever holds the token."""

from __future__ import annotations

from flask import Blueprint, Response, request

from webhook.auth import end_session, start_token_session, token_refusal

blueprint = Blueprint("api_session", __name__, url_prefix="/api")


@blueprint.post("/session")
def open_session() -> Response | tuple[Response, int]:
    """`{"token": ADMIN_TOKEN}` → 204 and the cookie; 401 for another token, 429 when this
    address failed too often."""
    body = request.get_json(silent=True)
    token = body.get("token") if isinstance(body, dict) else None
    refusal = token_refusal(token if isinstance(token, str) else "")
    if refusal is not None:
        return refusal
    start_token_session()
    return Response(status=204)


@blueprint.delete("/session")
def close_session() -> Response:
    """End this browser's session, the admin page's or a signed-in user's."""
    end_session()
    return Response(status=204)
