"""Sign-in with Microsoft (S1, S2) and a synced user's own page, `/me`: their extension, their
Linkus login and password (webhook/linkus.py), and their presence settings (P2 self-service).

`/sso/login` is limited per client address and reuses one MSAL app for the stored
credentials. The flow waits in Redis under its `state` (ten minutes), bound to the browser that
asked by a cookie of its own (`eps_signin`, HttpOnly, sent only to /sso/callback): an answer
posted from another browser is refused (no login CSRF). That cookie is `SameSite=None; Secure`
on https, because Entra's form_post reaches the callback from another site. Only synced users
with an enabled account get in; members of `sso.admin_group_ids` may also use the admin API.
The session (webhook/auth.py) is kept on the server and checked again on every use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, redirect, request
from itsdangerous import BadSignature

from core.connection import sign_in_for
from core.errors import AuthError, ConfigError, SyncError
from core.graph.auth import SignIn
from core.pbx.password import RULE
from core.presence.plan import AVAILABILITY, DEFAULT_MAP, PBX_PRESENCE, effective, map_errors
from core.store.redis import StateStore
from webhook import presence_auth
from webhook.audit import audit
from webhook.auth import (
    csrf_matches,
    csrf_token,
    end_session,
    https,
    redirect_uri,
    sign_in_closed,
    signed_in,
    signer,
    start_session,
)
from webhook.limits import SSO_LOGIN, address, limiter
from webhook.linkus import LINKUS_PASSWORD, SET, server_address, set_password
from webhook.pages import me_page, page
from webhook.standing import standing

blueprint = Blueprint("sso", __name__)
FLOW_TTL = 600
BROWSER_COOKIE = "eps_signin"
HINT_CHARS = 256
DONE = {"presence": {"presence_result": "Saved.", "presence_ok": True},
        "linkus": {"password_result": SET, "password_ok": True}}


def _state() -> StateStore:
    return current_app.extensions["state"]


def _sign_in() -> SignIn:
    """The process's sign-in app for the stored credentials."""
    try:
        return current_app.extensions["sign_in"]()
    except ConfigError:
        raise AuthError("refused", "the tenant is not connected") from None


def _digest(browser: str) -> str:
    return hashlib.sha256(f"sign-in browser {browser}".encode()).hexdigest()


@blueprint.get("/sso/login")
def login() -> Any:
    wait = limiter().hit(SSO_LOGIN, address())
    if wait:
        answer = page("Sign in", f"Too many sign-ins from your address: try again in {wait} s.",
                      429)
        answer.headers["Retry-After"] = str(wait)
        return answer
    closed = sign_in_closed()
    if closed:
        return page("Sign in", closed, 403)
    try:
        flow = _sign_in().begin(redirect_uri())
    except AuthError as exc:
        return page("Sign in", f"Sign-in is unavailable: {exc.reason}.", 503)
    browser = request.cookies.get(BROWSER_COOKIE, "")
    if not _ours(browser):  # one value for the browser's sign-ins in other tabs too
        browser = signer().dumps(["signin", secrets.token_urlsafe(32)])
    _state().put_flow("sso", flow | {"browser": _digest(browser)}, FLOW_TTL)
    hint = request.args.get("login_hint", "")[:HINT_CHARS]
    answer = redirect(flow["auth_uri"] + ("&" + urlencode({"login_hint": hint}) if hint else ""))
    answer.set_cookie(BROWSER_COOKIE, browser, max_age=FLOW_TTL, path="/sso/callback",
                      httponly=True, secure=https(), samesite="None" if https() else None)
    return answer


@blueprint.route("/sso/callback", methods=["GET", "POST"])
def callback() -> Any:
    answer = {k: v for k, v in request.values.items()}
    presence_flow = _state().take_flow("presence", answer.get("state", ""))
    if presence_flow is not None:  # an admin authorizing presence subscriptions
        return presence_auth.finish(presence_flow, answer)
    closed = sign_in_closed()
    if closed:
        return page("Sign in", closed, 403)
    flow = _state().take_flow("sso", answer.get("state", ""))
    if flow is None:
        return page("Sign in", "This sign-in has expired or was already used. Start again.",
                    400)
    if not hmac.compare_digest(str(flow.pop("browser", "")),
                               _digest(request.cookies.get(BROWSER_COOKIE, ""))):
        return page("Sign in", "This sign-in was started in another browser, or this browser "
                    "did not keep its sign-in cookie. Start again from this browser.", 400)
    return _signed_in_as(flow, answer)


def _signed_in_as(flow: dict[str, Any], answer: dict[str, str]) -> Any:
    settings = current_app.extensions["settings"]
    credentials = current_app.extensions["connection"].credentials(settings)
    if credentials is None:
        return page("Sign in", "Sign-in is unavailable: the tenant is not connected.", 503)
    try:  # an app of its own: the shared one keeps no user's tokens
        claims = sign_in_for(settings, credentials).finish(flow, answer)
    except AuthError as exc:
        return page("Sign in", f"Sign-in failed: {exc.reason}.", 401)
    user_id = str(claims.get("oid", ""))
    link = _state().user_links().get(user_id)
    if link is None:
        return page("Sign in", "Your account is not synced to an extension on this PBX.", 403)
    groups = list(_state().settings()["sso"]["admin_group_ids"])
    try:
        now = standing(current_app.extensions["graph"](), user_id, groups)
    except SyncError as exc:
        return page("Sign in", f"Sign-in is unavailable: {exc}", 503)
    if not now.enabled:
        return page("Sign in", "Your account is disabled.", 403)
    start_session(user_id=user_id, name=claims.get("name") or link.label, number=link.number,
                  admin=now.admin, groups=groups)
    return redirect("/" if now.admin else "/me")  # an administrator came for the console


@blueprint.get("/me")
def me() -> Any:
    user = signed_in()
    if user is None:  # an ended or unknown session is already gone from the server
        return redirect("/sso/login")
    return _me(user, **DONE.get(request.args.get("done", ""), {}))


def _me(user: dict[str, Any], status: int = 200, **results: str | bool) -> Response:
    """The user's page; `results` put a sentence beside the form it answers."""
    preference = effective(_state().presence_preference(user["id"]))
    return me_page(status, user=user, pref=preference, availabilities=AVAILABILITY,
                   default_map=DEFAULT_MAP,
                   statuses=PBX_PRESENCE, csrf=csrf_token(), server=server_address(),
                   rule=RULE, **results)


@blueprint.post("/me/presence")
def my_presence() -> Any:
    user = signed_in()
    if user is None or not csrf_matches(request.form.get("csrf")):
        return page("My extension", "Your session has ended. Sign in again.", 403)
    chosen = {k[4:]: v for k, v in request.form.items() if k.startswith("map.") and v}
    preference = {"enabled": request.form.get("enabled") == "1", "map": chosen}
    errors = map_errors(preference)
    if errors:
        return _me(user, 400, presence_result="Not saved: " + "; ".join(
            f"{k} {', '.join(v)}" for k, v in errors.items()))
    _state().set_presence_preference(user["id"], preference)
    audit("my_presence", {"number": user["number"]} | preference)
    return redirect("/me?done=presence")


@blueprint.post("/me/linkus-password")
def my_linkus_password() -> Any:
    """Set the signed-in user's Linkus password on their own extension (5 tries a minute)."""
    user = signed_in()
    if user is None or not csrf_matches(request.form.get("csrf")):
        return page("My extension", "Your session has ended. Sign in again.", 403)
    wait = limiter().hit(LINKUS_PASSWORD, user["id"])
    if wait:
        answer = _me(user, 429, password_result=f"Not set: too many tries. Try again in {wait} s.")
        answer.headers["Retry-After"] = str(wait)
        return answer
    link = _state().user_links().get(user["id"])
    if link is None:  # no longer synced since the session was checked
        return page("My extension", "Your account is not synced to an extension.", 403)
    status, result = set_password(link, request.form.get("password", ""),
                                  request.form.get("confirm", ""))
    if status != 200:
        return _me(user, status, password_result=result)
    audit("linkus_password_set", {"number": link.number})
    return redirect("/me?done=linkus")


@blueprint.post("/sso/logout")
def logout() -> Any:
    if csrf_matches(request.form.get("csrf")):
        end_session()
    return page("Signed out", "You are signed out.")


def _ours(browser: str) -> bool:
    """Whether a sign-in cookie is one this app made: a value planted by another site (a
    sibling subdomain can set cookies) would let its owner predict the binding."""
    try:
        value = signer().loads(browser)
    except BadSignature:
        return False
    return isinstance(value, list) and len(value) == 2 and value[0] == "signin"
