"""Sign-in with Microsoft (S1, S2) and a synced user's own page, `/me` (P2 self-service).

The flow waits in Redis under its `state` (ten minutes), so the form_post callback needs no
cookie; the session cookie, signed with SECRET_KEY, holds who signed in. Only synced users
with an enabled account get in; members of `sso.admin_group_ids` may also use the admin API.
Disabling the integration or SSO closes the door at once, sessions included.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template_string, request
from flask import session as cookie

from core.connection import ConnectionStore, sign_in_for
from core.errors import AuthError, SyncError
from core.presence.plan import AVAILABILITY, PBX_PRESENCE, effective, map_errors
from core.store.redis import DEFAULT_FLAGS, StateStore

blueprint = Blueprint("sso", __name__)
FLOW_TTL = 600

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse}td{padding:.25rem .75rem .25rem 0}</style></head><body>
<h1>{{ title }}</h1>{% if message %}<p>{{ message }}</p>{% endif %}
{% if user %}<p>{{ user.name }} · extension <strong>{{ user.number }}</strong></p>
<form method="post" action="/me/presence">
<input type="hidden" name="csrf" value="{{ csrf }}">
<p><label><input type="checkbox" name="enabled" value="1" {{ "checked" if pref.enabled }}>
Show my Teams status on my extension</label></p>
<table>{% for availability in availabilities %}<tr><td>{{ availability }}</td><td>
<select name="map.{{ availability }}"><option value="">(no change)</option>
{% for status in statuses %}<option value="{{ status }}"
{{ "selected" if pref.map.get(availability) == status }}>{{ status }}</option>{% endfor %}
</select></td></tr>{% endfor %}</table><p><button type="submit">Save</button></p></form>
<form method="post" action="/sso/logout"><input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Sign out</button></form>{% endif %}</body></html>"""


def page(title: str, message: str = "", status: int = 200, **context: Any) -> Response:
    body = render_template_string(PAGE, title=title, message=message, **context)
    return Response(body, status=status, mimetype="text/html")


def _state() -> StateStore:
    return current_app.extensions["state"]


def _closed() -> str | None:
    """Why sign-in is closed now (S2), or None."""
    current = _state().flags() or DEFAULT_FLAGS
    if current["state"] != "enabled":
        return f"Sign-in is unavailable: the integration is {current['state']}."
    if not _state().settings()["sso"]["enabled"]:
        return "Sign-in with Microsoft is turned off."
    return None


def redirect_uri() -> str:
    listed = _state().settings()["sso"]["redirect_uris"]
    base = current_app.extensions["settings"].public_base_url or request.host_url
    return str(listed[0]) if listed else f"{base.rstrip('/')}/sso/callback"


def _sign_in() -> Any:
    settings = current_app.extensions["settings"]
    connection: ConnectionStore = current_app.extensions["connection"]
    credentials = connection.credentials(settings)
    if credentials is None:
        raise AuthError("refused", "the tenant is not connected")
    return sign_in_for(settings, credentials)


@blueprint.get("/sso/login")
def login() -> Any:
    closed = _closed()
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
        from webhook import presence_auth

        return presence_auth.finish(presence_flow, answer)
    closed = _closed()
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
    cookie.clear()
    cookie.update(user_id=user_id, name=claims.get("name") or link.label, number=link.number,
                  admin=admin, csrf=secrets.token_urlsafe(16))
    return redirect("/me")


def signed_in() -> dict[str, Any] | None:
    """The signed-in user, while sign-in is open and the user is still synced."""
    if not cookie.get("user_id") or _closed():
        return None
    link = _state().user_links().get(cookie["user_id"])
    if link is None:
        return None
    return {"id": cookie["user_id"], "name": cookie.get("name"), "number": link.number,
            "admin": bool(cookie.get("admin"))}


@blueprint.get("/me")
def me() -> Any:
    user = signed_in()
    if user is None:
        cookie.clear()
        return redirect("/sso/login")
    preference = effective(_state().presence_preferences().get(user["number"]))
    return page("My extension", request.args.get("saved", ""), user=user, pref=preference,
                 availabilities=AVAILABILITY, statuses=PBX_PRESENCE, csrf=cookie.get("csrf"))


@blueprint.post("/me/presence")
def my_presence() -> Any:
    user = signed_in()
    if user is None or request.form.get("csrf") != cookie.get("csrf"):
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
    if request.form.get("csrf") == cookie.get("csrf"):
        cookie.clear()
    return page("Signed out", "You are signed out.")
