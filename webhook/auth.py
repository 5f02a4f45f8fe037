"""Who is calling (S1, S2): the admin API's bearer token, and the sessions of the admin page and
of signed-in users. Views import `admin_only` and `signed_in` from here; nothing else reads or
writes the session cookie, and this module imports no view module (imports run one way).

The cookie carries only a random session id, signed; the session is kept in Redis
(webhook/sessions.py) and checked on every use: an SSO session ends when sign-in closes or the
user is no longer synced, and its admin rights follow `sso.admin_group_ids` at once and Entra
at least every ten minutes (webhook/standing.py). Signing in is in sso.py.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Response, after_this_request, current_app, g, jsonify, request
from itsdangerous import BadSignature, URLSafeSerializer

from core.errors import SyncError
from core.store.redis import DEFAULT_FLAGS, StateStore
from webhook.limits import ADMIN_FAILURES, address, limiter, too_many
from webhook.sessions import Sessions
from webhook.standing import standing

SESSION_COOKIE = "eps_session"
SESSION_SALT = "eps-session"
RECHECK_SECONDS = 600  # app.config["SSO_RECHECK_SECONDS"] overrides it
RETRY_SECONDS = 60
Session = tuple[str, dict[str, Any]]


def _state() -> StateStore:
    return current_app.extensions["state"]


def _sessions() -> Sessions:
    return current_app.extensions["sessions"]


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


def https() -> bool:
    """Whether cookies are `Secure`: this request came over https (directly, or through a
    trusted proxy), or to the host of an https PUBLIC_BASE_URL. An administrator who opens the
    page at an internal http address still gets a cookie the browser keeps."""
    public = urlsplit(current_app.extensions["settings"].public_base_url or "")
    return request.is_secure or (public.scheme == "https" and public.netloc == request.host)


def signer() -> URLSafeSerializer:
    """Signs the cookie's session id with SECRET_KEY (its fallbacks still verify)."""
    keys = [*(current_app.config.get("SECRET_KEY_FALLBACKS") or ()), current_app.secret_key]
    return URLSafeSerializer(keys, salt=SESSION_SALT)


# sessions ----------------------------------------------------------------------------------
def start_session(*, user_id: str, name: str, number: str, admin: bool,
                  groups: list[str]) -> None:
    """A new session for a user who just signed in, with a fresh CSRF token."""
    _open({"kind": "sso", "user_id": user_id, "name": name, "number": number, "admin": admin,
           "groups": sorted(groups), "checked_at": time.time()}, samesite="Lax")


def start_token_session() -> None:
    """A session for the admin page, traded for ADMIN_TOKEN; `SameSite=Strict`."""
    _open({"kind": "token", "token": _token_mark(), "admin": True}, samesite="Strict")


def end_session() -> None:
    """End the session the cookie names, on the server, and drop the cookie."""
    current = _cookie_session_id()
    if current:
        _sessions().end(current)
    g.eps_session = None
    after_this_request(_drop_cookie)


def signed_in() -> dict[str, Any] | None:
    """The signed-in user, while sign-in is open and the user is still synced."""
    session = _session()
    if session is None or session[1]["kind"] != "sso":
        return None
    record = session[1]
    return {"id": record["user_id"], "name": record["name"], "number": record["number"],
            "admin": bool(record["admin"])}


def admin_session() -> bool:
    """Whether the browser's session is an administrator's (the admin token's or an SSO
    admin's): the console's pages render only for one. Reading needs no X-Requested-With."""
    session = _session()
    return session is not None and bool(session[1]["admin"])


def acting() -> str:
    """Who makes this request, for the audit log: "admin token" (the bearer token or a token
    session) or an SSO user's "Name <user id>", from the session this request already checked."""
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return "admin token"  # admin_only let it in
    session = _session()
    if session is None:
        return "anonymous"
    record = session[1]
    return "admin token" if record["kind"] == "token" else f"{record['name']} <{record['user_id']}>"


def csrf_token() -> str | None:
    """The session's token that forms posting to /me and /sso/logout carry."""
    session = _session()
    return None if session is None else str(session[1]["csrf"])


def csrf_matches(given: str | None) -> bool:
    expected = csrf_token()  # compared as bytes: compare_digest refuses non-ASCII str
    return bool(expected and given) and hmac.compare_digest(str(given).encode(),
                                                            str(expected).encode())


def end_sso_sessions_when_closed(response: Response) -> Response:
    """After an admin's change, SSO sessions end at once if it closed sign-in (SSO off, the
    integration disabled or disconnected); they do not come back when it opens again."""
    if (response.status_code < 400 and request.path.startswith("/api/")
            and request.method in ("POST", "PUT", "PATCH", "DELETE") and sign_in_closed()):
        _sessions().end_sso()
    return response


def _open(record: dict[str, Any], *, samesite: str) -> None:
    previous = _cookie_session_id()
    if previous:  # a new session never reuses the id a browser brought (no fixation)
        _sessions().end(previous)
    session_id = _sessions().open(record | {"csrf": secrets.token_urlsafe(16)})
    g.eps_session = None
    value = signer().dumps(session_id)

    @after_this_request
    def _set_cookie(response: Response) -> Response:
        response.set_cookie(SESSION_COOKIE, value, httponly=True, samesite=samesite,
                            secure=https(), path="/")
        return response


def _drop_cookie(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=https())
    return response


def _cookie_session_id() -> str | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        return str(signer().loads(raw))
    except BadSignature:
        return None


def _session() -> Session | None:
    """The live session the cookie names, checked again; once a request."""
    if "eps_session" not in g:
        g.eps_session = _checked_session()
    return g.eps_session


def _checked_session() -> Session | None:
    session_id = _cookie_session_id()
    record = _sessions().load(session_id) if session_id else None
    if session_id is None or record is None:
        return None
    if record["kind"] == "token":
        if hmac.compare_digest(record.get("token", ""), _token_mark() or "-"):
            return session_id, record
        _sessions().end(session_id)  # ADMIN_TOKEN changed or was unset
        return None
    if sign_in_closed():
        _sessions().end_sso()
        return None
    link = _state().user_links().get(record["user_id"])
    if link is None:  # no longer synced
        _sessions().end(session_id)
        return None
    record["number"] = link.number
    groups = sorted(_state().settings()["sso"]["admin_group_ids"])
    every = current_app.config.get("SSO_RECHECK_SECONDS", RECHECK_SECONDS)
    if record["groups"] == groups and time.time() - record["checked_at"] < every:
        return session_id, record
    try:
        now = standing(current_app.extensions["graph"](), record["user_id"], groups)
    except SyncError:  # Entra cannot say now: no admin rights until it can; ask in a minute
        record |= {"admin": False, "groups": groups,
                   "checked_at": time.time() - every + min(every, RETRY_SECONDS)}
    else:
        if not now.enabled:
            _sessions().end(session_id)
            return None
        record |= {"admin": now.admin, "groups": groups, "checked_at": time.time()}
    _sessions().save(session_id, record)
    return session_id, record


# the admin token ---------------------------------------------------------------------------
def _token_mark() -> str | None:
    """What a token session keeps of ADMIN_TOKEN: a keyed hash, never the token."""
    token = current_app.extensions["settings"].admin_token
    if not token:
        return None
    key = current_app.secret_key  # bytes: the signing key
    return hmac.new(key, b"admin token " + token.encode(), hashlib.sha256).hexdigest()


def token_refusal(given: str) -> tuple[Response, int] | None:
    """None when `given` is ADMIN_TOKEN; else 401, or 429 once this address failed too often
    (then no token is even compared, the right one neither)."""
    wait = limiter().wait(ADMIN_FAILURES, address())
    if wait:
        return too_many(wait, "failed admin tokens")
    expected = current_app.extensions["settings"].admin_token
    if not expected:
        return _refused("the admin API is disabled: set ADMIN_TOKEN")
    if hmac.compare_digest(given.encode(), expected.encode()):
        return None
    limiter().hit(ADMIN_FAILURES, address())
    return _refused("a valid admin token is required")


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Bearer ADMIN_TOKEN, or the session of the admin page or of an SSO admin (S1).

    A session is accepted only with the `X-Requested-With` header, which another site cannot
    send without a CORS preflight: a cookie alone never changes anything (no CSRF).
    """

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer "):
            refusal = token_refusal(given[7:])
            if refusal is not None:
                return refusal
        # any other Authorization (an auth proxy's Basic in front of the page) is not ours
        elif not request.headers.get("X-Requested-With"):
            return _refused("a valid bearer token is required")
        else:
            session = _session()
            if session is None or not session[1]["admin"]:
                return _refused("sign in as an administrator")
        return view(*args, **kwargs)

    return guarded


def _refused(message: str) -> tuple[Response, int]:
    return jsonify(error=message), 401
