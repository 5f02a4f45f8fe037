"""Authorizing presence notifications (P3): an admin signs in once with `Presence.Read.All`.

Graph takes presence subscriptions from delegated tokens only (contracts §1.9, §12). The
admin API starts the authorization-code flow and answers the address to send the browser
to; the answer comes back to `/sso/callback`, like sign-in, so no other redirect URI needs
registering. The MSAL token cache is then kept sealed in Redis, and the next presence poll
makes the subscription. Revoking deletes it and forgets the tokens.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from core.errors import AuthError
from core.presence.subscription import PresenceAuthorization, current, delegated_client, sign_in
from core.presence.subscription import revoke as revoke_presence
from webhook.audit import audit
from webhook.auth import acting, admin_only, redirect_uri
from webhook.pages import page
from workers.broker import POLL_PRESENCE, send

blueprint = Blueprint("presence_auth", __name__, url_prefix="/api/presence")
FLOW_TTL = 600


def _authorization() -> PresenceAuthorization:
    return PresenceAuthorization(current_app.extensions["state"], current_app.extensions["box"])


def _credentials() -> Any:
    return current_app.extensions["connection"].credentials(current_app.extensions["settings"])


@blueprint.get("/authorization")
@admin_only
def show() -> Response:
    """Who authorized presence notifications, and the subscription it keeps (no tokens)."""
    record = current(current_app.extensions["subscriptions"])
    subscription = None if record is None else {
        "id": record["id"], "expires_at": record["expires_at"], "covers": len(record["user_ids"])}
    return jsonify(_authorization().public() | {"subscription": subscription})


@blueprint.post("/authorization")
@admin_only
def begin() -> tuple[Response, int]:
    """Start the flow: send the browser to `auth_uri`; it returns to /sso/callback."""
    state = current_app.extensions["state"]
    credentials = _credentials()
    if credentials is None or (state.flags() or {}).get("state") != "enabled":
        return jsonify(error="connect the tenant (and enable the integration) first"), 409
    try:
        flow = sign_in(current_app.extensions["settings"], credentials).begin(redirect_uri())
    except AuthError as exc:
        return jsonify(error=f"the sign-in service is unavailable: {exc.reason}"), 503
    state.put_flow("presence", flow | {"asked_by": acting()}, FLOW_TTL)
    return jsonify(auth_uri=flow["auth_uri"], expires_in=FLOW_TTL), 200


@blueprint.delete("/authorization")
@admin_only
def revoke() -> tuple[Response, int]:
    """Delete the presence subscription and forget the tokens; everyone is polled again."""
    credentials = _credentials()
    graph = delegated_client(current_app.extensions["settings"], credentials,
                             _authorization()) if credentials else None
    account = _authorization().public().get("account")
    answer = revoke_presence(graph, current_app.extensions["subscriptions"], _authorization())
    audit("presence_revoked", {"account": account})
    return jsonify(authorized=False, subscription=answer), 200


def finish(flow: dict[str, Any], answer: dict[str, str]) -> Response:
    """The end of the flow, at /sso/callback: keep the tokens, and ask for the subscription.
    The audit log names the administrator who began it, and the account that authorized."""
    title = "Presence notifications"
    asked_by = str(flow.pop("asked_by", "") or "unknown")
    credentials = _credentials()
    if credentials is None:
        return page(title, "The tenant is no longer connected.", 409)
    try:
        flow_client = sign_in(current_app.extensions["settings"], credentials)
        claims = flow_client.finish(flow, answer)
    except AuthError as exc:
        return page(title, f"Authorization failed: {exc.reason}.", 401)
    cache = flow_client.cache_blob()
    if cache is None:
        return page(title, "Authorization failed: no token was issued.", 401)
    account = str(claims.get("preferred_username") or claims.get("name") or claims.get("oid"))
    _authorization().save(account=account, user_id=str(claims.get("oid", "")), cache=cache,
                          now=dt.datetime.now(dt.UTC))
    send(current_app.extensions["broker"], POLL_PRESENCE)
    audit("presence_authorized", {"account": account}, actor=asked_by)
    return page(title, f"Authorized as {account}. Teams presence changes now reach the PBX as "
                "they happen, for up to 650 users; the others are polled.")
