"""Sign-in with Microsoft (S1, S2) and a synced user's own page, `/me` (P2 self-service).

The flow waits in Redis under its `state` (ten minutes), so the form_post callback needs no
cookie; the session cookie (webhook/auth.py) holds who signed in. Only synced users
with an enabled account get in; members of `sso.admin_group_ids` may also use the admin API.
Disabling the integration or SSO closes the door at once, sessions included.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, request

from core.connection import ConnectionStore, sign_in_for
from core.errors import AuthError, SyncError
from core.presence.plan import AVAILABILITY, PBX_PRESENCE, effective, map_errors
from core.store.redis import StateStore
from webhook import presence_auth
from webhook.auth import (
    csrf_matches,
    csrf_token,
    end_session,
    redirect_uri,
    sign_in_closed,
    signed_in,
    start_session,
)
from webhook.pages import page

blueprint = Blueprint("sso", __name__)
FLOW_TTL = 600


def _state() -> StateStore:
    return current_app.extensions["state"]


def _sign_in() -> Any:
    settings = current_app.extensions["settings"]
    connection: ConnectionStore = current_app.extensions["connection"]
    credentials = connection.credentials(settings)
    if credentials is None:
        raise AuthError("refused", "the tenant is not connected")
    return sign_in_for(settings, credentials)


@blueprint.get("/sso/login")
def login() -> Any:
    closed = sign_in_closed()
    if closed:
        return page("Sign in", closed, 403)
    try:
        flow = _sign_in().begin(redirect_uri())
    except AuthError as exc:
        return page("Sign in", f"Sign-in is unavailable: {exc.reason}.", 503)
    _state().put_flow("sso", flow, FLOW_TTL)
    hint = request.args.get("login_hint")
    return redirect(flow["auth_uri"] + (f"&login_hint={hint}" if hint else ""))


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
    try:
        claims = _sign_in().finish(flow, answer)
    except AuthError as exc:
        return page("Sign in", f"Sign-in failed: {exc.reason}.", 401)
    user_id = str(claims.get("oid", ""))
    link = _state().user_links().get(user_id)
    if link is None:
        return page("Sign in", "Your account is not synced to an extension on this PBX.", 403)
    try:
        graph = current_app.extensions["graph"]()
        enabled = graph.request("GET", f"users/{user_id}",
                                params={"$select": "accountEnabled"}).get("accountEnabled")
        admins = _state().settings()["sso"]["admin_group_ids"]
        admin = any(user_id in set(graph.group_user_ids(g)) for g in admins)
    except SyncError as exc:
        return page("Sign in", f"Sign-in is unavailable: {exc}", 503)
    if enabled is False:
        return page("Sign in", "Your account is disabled.", 403)
    start_session(user_id=user_id, name=claims.get("name") or link.label, number=link.number,
                  admin=admin)
    return redirect("/me")


@blueprint.get("/me")
def me() -> Any:
    user = signed_in()
    if user is None:
        end_session()
        return redirect("/sso/login")
    preference = effective(_state().presence_preferences().get(user["number"]))
    return page("My extension", request.args.get("saved", ""), user=user, pref=preference,
                 availabilities=AVAILABILITY, statuses=PBX_PRESENCE, csrf=csrf_token())


@blueprint.post("/me/presence")
def my_presence() -> Any:
    user = signed_in()
    if user is None or not csrf_matches(request.form.get("csrf")):
        return page("My extension", "Your session has ended. Sign in again.", 403)
    chosen = {k[4:]: v for k, v in request.form.items() if k.startswith("map.") and v}
    preference = {"enabled": request.form.get("enabled") == "1", "map": chosen}
    errors = map_errors(preference)
    if errors:
        return page("My extension", "Not saved: " + "; ".join(
            f"{k} {', '.join(v)}" for k, v in errors.items()), 400)
    _state().set_presence_preference(user["number"], preference)
    return redirect("/me?saved=Saved.")


@blueprint.post("/sso/logout")
def logout() -> Any:
    if csrf_matches(request.form.get("csrf")):
        end_session()
    return page("Signed out", "You are signed out.")
