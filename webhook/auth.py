"""Who is calling (S1, S2): the admin API's bearer token and the session of a signed-in user.

Views import `admin_only` and `signed_in` from here, and nothing else reads or writes the
session cookie. This module imports no view module, so imports in webhook/ run one way.
The cookie is Flask's, signed with SECRET_KEY; signing in itself is in sso.py.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, jsonify, request
from flask import session as cookie

from core.store.redis import DEFAULT_FLAGS, StateStore

SESSION_COOKIE = "eps_session"
SESSION_SALT = "eps-session"


def _state() -> StateStore:
    return current_app.extensions["state"]


def sign_in_closed() -> str | None:
    """Why sign-in is closed now (S2), or None."""
    current = _state().flags() or DEFAULT_FLAGS
    if current["state"] != "enabled":
        return f"Sign-in is unavailable: the integration is {current['state']}."
    if not _state().settings()["sso"]["enabled"]:
        return "Sign-in with Microsoft is turned off."
    return None


def redirect_uri() -> str:
    """Where Microsoft sends the answer of a sign-in or of a presence authorization."""
    listed = _state().settings()["sso"]["redirect_uris"]
    base = current_app.extensions["settings"].public_base_url or request.host_url
    return str(listed[0]) if listed else f"{base.rstrip('/')}/sso/callback"


def start_session(*, user_id: str, name: str, number: str, admin: bool) -> None:
    """A new session for a user who just signed in, with a fresh CSRF token."""
    cookie.clear()
    cookie.update(user_id=user_id, name=name, number=number, admin=admin,
                  csrf=secrets.token_urlsafe(16))


def end_session() -> None:
    cookie.clear()


def csrf_token() -> str | None:
    """The session's token that forms posting to /me and /sso/logout carry."""
    return cookie.get("csrf")


def csrf_matches(given: str | None) -> bool:
    return given == cookie.get("csrf")


def signed_in() -> dict[str, Any] | None:
    """The signed-in user, while sign-in is open and the user is still synced."""
    if not cookie.get("user_id") or sign_in_closed():
        return None
    link = _state().user_links().get(cookie["user_id"])
    if link is None:
        return None
    return {"id": cookie["user_id"], "name": cookie.get("name"), "number": link.number,
            "admin": bool(cookie.get("admin"))}


def bearer_refusal() -> str | None:
    """Why the request carries no valid `Bearer $ADMIN_TOKEN`, or None when it does."""
    expected = current_app.extensions["settings"].admin_token
    if not expected:
        return "the admin API is disabled: set ADMIN_TOKEN"
    given = request.headers.get("Authorization", "")
    token = given[7:] if given.startswith("Bearer ") else ""
    if not hmac.compare_digest(token.encode(), expected.encode()):
        return "a valid bearer token is required"
    return None


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Bearer ADMIN_TOKEN, or the SSO session of an admin (S1).

    A session is accepted only with the `X-Requested-With` header, which another site cannot
    send without a CORS preflight: a cookie alone never changes anything (no CSRF).
    """

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if "Authorization" not in request.headers and request.headers.get("X-Requested-With"):
            user = signed_in()
            if user is not None and user["admin"]:
                return view(*args, **kwargs)
            return _refused("sign in as an administrator")
        refusal = bearer_refusal()
        if refusal is not None:
            return _refused(refusal)
        return view(*args, **kwargs)

    return guarded


def _refused(message: str) -> tuple[Response, int]:
    return jsonify(error=message), 401
