"""The admin API's status and Entra connection (C1, C2): `GET /api/status`,
`PUT /api/connection`, `POST /api/connection/secret`, and what to register in the Entra app.

Credentials are kept only once a token and a read succeed with them; connecting another tenant
releases what the old one synced, and only when asked to.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify

from core.config import Settings
from core.connection import ConnectionStore, Credentials, check, shown_check
from core.engine.lock import FencedLock
from core.engine.rules import SYNC_PARTS, Situation
from core.health import HealthStore, shown
from core.health.check import parts_to_check
from core.presence.subscription import PresenceAuthorization
from core.store.redis import DEFAULT_FLAGS, StateStore
from webhook.api import body, brief, error, ext, situation
from webhook.audit import audit
from webhook.auth import admin_only
from workers.broker import CHECK_HEALTH, MAINTAIN_SUBSCRIPTIONS, send
from workers.clock import described

blueprint = Blueprint("api_connection", __name__, url_prefix="/api")


@blueprint.get("/status")
@admin_only
def status() -> Response:
    state: StateStore = ext("state")
    settings: Settings = ext("settings")
    connection: ConnectionStore = ext("connection")
    credentials = connection.credentials(settings)
    runs = state.runs(limit=5)
    document = state.settings()
    current = state.flags() or DEFAULT_FLAGS
    overall = current["state"] if current["state"] != "enabled" else (
        "connected" if credentials else "not_configured")
    now = situation()
    moment = dt.datetime.now(dt.UTC)
    return jsonify(
        state=overall,
        connection=shown_check(connection.last_check(), credentials, moment) if credentials
        else {"status": "not_configured"},
        health=_health(now, moment),
        schedule=described(document["schedule"], moment),
        groups={"enabled": document["groups"]["enabled"], "paused": current["groups_paused"],
                "synced": len(state.group_links())},
        contacts={"personal": document["contacts"]["personal"]["enabled"],
                  "shared": document["contacts"]["shared"]["enabled"],
                  "synced": len(state.contact_links()), "phonebooks": len(state.book_links())},
        users={"enabled": document["users"]["enabled"], "paused": current["users_paused"],
               "pending_changes": ext("debouncer").pending("users"),
               "synced": len(state.user_links()),
               "last_run": brief(runs[0]) if runs else None},
        presence={"enabled": document["presence"]["enabled"],
                  "notifications": PresenceAuthorization(state, ext("box")).public()},
        pending=_pending(moment),
        subscriptions=ext("subscriptions").public(),
        setup=setup_links(settings, credentials),
        parts={part: _part_status(now, part) for part in (*SYNC_PARTS, "presence")},
        attention=_attention(now, state),
        interrupted_runs=[r["id"] for r in state.runs(limit=50)
                          if r.get("interrupted") and r["state"] == "failed"],
        runs=[brief(r) for r in runs])


def _pending(moment: dt.datetime) -> dict[str, Any]:
    """The changes waiting for a run, by kind, and when that run starts (within the debounce
    window of the first change, at once after `DEBOUNCE_MAX_CHANGES`)."""
    debouncer = ext("debouncer")
    shown: dict[str, Any] = {"window_seconds": debouncer.window,
                             "max_changes": debouncer.max_changes}
    for kind in SYNC_PARTS:
        due = debouncer.due_in(kind)
        shown[kind] = {"changes": debouncer.pending(kind),
                       "runs_at": None if due is None
                       else (moment + dt.timedelta(seconds=due)).isoformat(timespec="seconds")}
    return shown


def _health(now: Situation, moment: dt.datetime) -> dict[str, Any]:
    """The last live check; a stale one, or one that missed a part on now, asks for another."""
    store = HealthStore(ext("state"))
    entries, due = shown(store.report(), parts_to_check(now), moment)
    if due and store.claim("asked"):
        send(ext("broker"), CHECK_HEALTH, "status")
    return entries


@blueprint.post("/health/check")
@admin_only
def check_health() -> tuple[Response, int]:
    """Queue a live check of each part's permissions and of the PBX (at most one at a time).

    Queued, not run here: the worker's PBX client already holds a token (the PBX allows 8 per
    API client, and blocks an IP after 5 failed logins, so repeated clicks must not log in);
    the check may wait on Graph's throttling longer than a request should; and one code path
    serves the clock, failed runs and this button. Status shows the result within seconds.
    """
    store = HealthStore(ext("state"))
    queued = store.claim("asked")
    if queued:
        send(ext("broker"), CHECK_HEALTH, "asked")
    last = store.report() or {}
    return jsonify(queued=queued, asked_at=dt.datetime.now(dt.UTC).isoformat(),
                   last_checked_at=last.get("checked_at")), 202


def _part_status(now: Situation, part: str) -> dict[str, Any]:
    refusal = now.why_not(part)
    return {"runs": refusal is None, "reason": refusal.reason if refusal else None,
            "message": refusal.message if refusal else None}


def _attention(now: Situation, state: StateStore) -> list[str]:
    """What the administrator must do before anything syncs again."""
    linked = sum(state.linked_counts().values())
    if now.connected and (now.lost or (
            linked and (now.flags is None or now.document is None))):
        return [f"The stored settings or switches are missing although {linked} objects are "
                "synced: nothing syncs until the settings are saved again."]
    return []


def setup_links(settings: Settings, credentials: Credentials | None) -> dict[str, Any]:
    """What to register in the Entra app, and the admin-consent link once the ids are known."""
    base = (settings.public_base_url or "").rstrip("/")
    links: dict[str, Any] = {
        "redirect_uris": [f"{base}/sso/callback"] if base else [],
        "notification_url": f"{base}/graph/notifications" if base else None,
        "lifecycle_url": f"{base}/graph/lifecycle" if base else None}
    if credentials is not None:
        links["admin_consent_url"] = (
            f"{settings.entra_authority_host}/{credentials.tenant_id}/adminconsent"
            f"?client_id={credentials.client_id}")
    return links


@blueprint.put("/connection")
@admin_only
def connect() -> tuple[Response, int]:
    asked = body()
    missing = [k for k in ("tenant_id", "client_id", "client_secret")
               if not isinstance(asked.get(k), str) or not asked[k].strip()]
    if missing:
        return error(400, "missing fields", fields={k: ["required"] for k in missing})
    credentials = Credentials(asked["tenant_id"].strip(), asked["client_id"].strip(),
                              asked["client_secret"].strip(),
                              asked.get("client_secret_expires_at"))
    state: StateStore = ext("state")
    owner = state.links_tenant() or getattr(
        ext("connection").credentials(ext("settings")), "tenant_id", None)
    linked = sum(state.linked_counts().values())
    if owner and owner != credentials.tenant_id and linked \
            and asked.get("release_links") is not True:
        return error(409, f"{linked} objects are synced from tenant {owner}: connecting "
                         "another tenant releases them to the PBX; send release_links: true "
                         "to do so", reason="other_tenant")
    release = bool(owner and owner != credentials.tenant_id)
    answer = _checked_save(credentials, release=release)
    if answer[1] == 200:
        audit("connect", {"tenant_id": credentials.tenant_id, "client_id": credentials.client_id,
                          "released_links": release})
    return answer


@blueprint.post("/connection/secret")
@admin_only
def rotate_secret() -> tuple[Response, int]:
    asked = body()
    secret = asked.get("client_secret")
    if not isinstance(secret, str) or not secret.strip():
        return error(400, "missing fields", fields={"client_secret": ["required"]})
    current = ext("connection").credentials(ext("settings"))
    if current is None:
        return error(409, "not connected: PUT /api/connection first")
    expires = asked.get("client_secret_expires_at")
    answer = _checked_save(Credentials(current.tenant_id, current.client_id, secret.strip(),
                                       expires))
    if answer[1] == 200:
        audit("secret_rotated", {"expires_at": expires})
    return answer


def _checked_save(credentials: Credentials, *, release: bool = False) -> tuple[Response, int]:
    """Check the credentials; keep them only when a token and a read succeed."""
    expires = credentials.secret_expires_at
    if expires is not None:
        try:
            dt.datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
        except ValueError:
            return error(400, "invalid fields", fields={"client_secret_expires_at": [
                "must be an ISO 8601 date and time, e.g. 2027-11-24T00:00:00Z"]})
    result = check(ext("settings"), credentials, now=dt.datetime.now(dt.UTC))
    if result["status"] != "connected":
        return jsonify(result), 422
    connection: ConnectionStore = ext("connection")
    state: StateStore = ext("state")
    if release:  # another tenant: what the old one synced is left to the PBX, untouched
        # under the sync lock: a run of the old tenant must not write links after they go
        lock = FencedLock(ext("redis"), state.keys.sync_lock())
        with lock.held(wait=5) as held:
            if not held:
                return error(409, "a sync is running: connect again in a minute", reason="busy")
            state.forget_tenant()
            connection.save(credentials)
    connection.save(credentials)
    connection.record_check(result)
    state.set_links_tenant(credentials.tenant_id)
    flags = state.flags()
    if flags is None:  # a first connection chooses them; after lost state they wait for a save
        state.set_flags(confirm=not state.saved_parts(), state="enabled")
    elif flags["state"] == "disconnected":
        state.set_flags(state="enabled")
    send(ext("broker"), MAINTAIN_SUBSCRIPTIONS)
    if HealthStore(state).claim("asked"):
        send(ext("broker"), CHECK_HEALTH, "connected")
    return jsonify(result), 200
