"""The admin JSON API (INTERFACES.md), behind `Authorization: Bearer $ADMIN_TOKEN`.

Secrets go in and never come out: credentials and client states are sealed in Redis, and no
answer carries them.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from core.config import Settings
from core.connection import ConnectionStore, Credentials, check
from core.engine.rules import SYNC_PARTS, refusal_of, situation_of
from core.engine.runs import Run
from core.presence.plan import effective, map_errors
from core.presence.subscription import PresenceAuthorization
from core.store.redis import DEFAULT_FLAGS, StateStore
from core.sync_settings import SettingsInvalid, merge
from workers.broker import MAINTAIN_SUBSCRIPTIONS, RUN_SYNC, WIND_DOWN, send

blueprint = Blueprint("api", __name__, url_prefix="/api")
SCOPES_AVAILABLE = ("all", "users", "groups", "contacts")


def _ext(name: str) -> Any:
    return current_app.extensions[name]


def _error(status: int, message: str, **detail: Any) -> tuple[Response, int]:
    return jsonify(error=message, **detail), status


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Bearer ADMIN_TOKEN, or the SSO session of an admin (S1).

    A session is accepted only with the `X-Requested-With` header, which another site cannot
    send without a CORS preflight: a cookie alone never changes anything (no CSRF).
    """

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        from webhook.sso import signed_in

        if "Authorization" not in request.headers and request.headers.get("X-Requested-With"):
            user = signed_in()
            if user is not None and user["admin"]:
                return view(*args, **kwargs)
            return _error(401, "sign in as an administrator")
        expected = _ext("settings").admin_token
        if not expected:
            return _error(401, "the admin API is disabled: set ADMIN_TOKEN")
        given = request.headers.get("Authorization", "")
        token = given[7:] if given.startswith("Bearer ") else ""
        if not hmac.compare_digest(token.encode(), expected.encode()):
            return _error(401, "a valid bearer token is required")
        return view(*args, **kwargs)

    return guarded


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@blueprint.get("/status")
@admin_only
def status() -> Response:
    state: StateStore = _ext("state")
    settings: Settings = _ext("settings")
    connection: ConnectionStore = _ext("connection")
    credentials = connection.credentials(settings)
    runs = state.runs(limit=5)
    document = state.settings()
    current = state.flags() or DEFAULT_FLAGS
    overall = current["state"] if current["state"] != "enabled" else (
        "connected" if credentials else "not_configured")
    situation = _situation()
    return jsonify(
        state=overall,
        connection=(connection.last_check() or {"status": "unchecked"}) if credentials
        else {"status": "not_configured"},
        groups={"enabled": document["groups"]["enabled"], "paused": current["groups_paused"],
                "synced": len(state.group_links())},
        contacts={"personal": document["contacts"]["personal"]["enabled"],
                  "shared": document["contacts"]["shared"]["enabled"],
                  "synced": len(state.contact_links()), "phonebooks": len(state.book_links())},
        users={"enabled": document["users"]["enabled"], "paused": current["users_paused"],
               "pending_changes": _ext("debouncer").pending("users"),
               "synced": len(state.user_links()),
               "last_run": _brief(runs[0]) if runs else None},
        presence={"enabled": document["presence"]["enabled"],
                  "notifications": PresenceAuthorization(state, _ext("box")).public()},
        subscriptions=_ext("subscriptions").public(),
        setup=setup_links(settings, credentials),
        parts={part: _part_status(situation, part) for part in (*SYNC_PARTS, "presence")},
        attention=_attention(situation, state),
        interrupted_runs=[r["id"] for r in state.runs(limit=50)
                          if r.get("interrupted") and r["state"] == "failed"],
        runs=[_brief(r) for r in runs])


def _situation() -> Any:
    credentials = _ext("connection").credentials(_ext("settings"))
    return situation_of(_ext("state"), connected=credentials is not None)


def _part_status(situation: Any, part: str) -> dict[str, Any]:
    refusal = situation.why_not(part)
    return {"runs": refusal is None, "reason": refusal.reason if refusal else None,
            "message": refusal.message if refusal else None}


def _attention(situation: Any, state: StateStore) -> list[str]:
    """What the administrator must do before anything syncs again."""
    linked = sum(state.linked_counts().values())
    if situation.connected and (situation.lost or (
            linked and (situation.flags is None or situation.document is None))):
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


def _brief(run: dict[str, Any]) -> dict[str, Any]:
    return {k: run.get(k) for k in ("id", "scope", "trigger", "state", "mode", "dry_run",
                                    "started_at", "finished_at", "counts", "summary")}


@blueprint.put("/connection")
@admin_only
def connect() -> tuple[Response, int]:
    body = _body()
    missing = [k for k in ("tenant_id", "client_id", "client_secret")
               if not isinstance(body.get(k), str) or not body[k].strip()]
    if missing:
        return _error(400, "missing fields", fields={k: ["required"] for k in missing})
    credentials = Credentials(body["tenant_id"].strip(), body["client_id"].strip(),
                              body["client_secret"].strip(), body.get("client_secret_expires_at"))
    state: StateStore = _ext("state")
    owner = state.links_tenant() or getattr(
        _ext("connection").credentials(_ext("settings")), "tenant_id", None)
    linked = sum(state.linked_counts().values())
    if owner and owner != credentials.tenant_id and linked \
            and body.get("release_links") is not True:
        return _error(409, f"{linked} objects are synced from tenant {owner}: connecting "
                          "another tenant releases them to the PBX; send release_links: true "
                          "to do so", reason="other_tenant")
    return _checked_save(credentials, release=bool(owner and owner != credentials.tenant_id))


@blueprint.post("/connection/secret")
@admin_only
def rotate_secret() -> tuple[Response, int]:
    body = _body()
    secret = body.get("client_secret")
    if not isinstance(secret, str) or not secret.strip():
        return _error(400, "missing fields", fields={"client_secret": ["required"]})
    current = _ext("connection").credentials(_ext("settings"))
    if current is None:
        return _error(409, "not connected: PUT /api/connection first")
    return _checked_save(Credentials(current.tenant_id, current.client_id, secret.strip(),
                                     body.get("client_secret_expires_at")))


def _checked_save(credentials: Credentials, *, release: bool = False) -> tuple[Response, int]:
    """Check the credentials; keep them only when a token and a read succeed."""
    expires = credentials.secret_expires_at
    if expires is not None:
        try:
            dt.datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
        except ValueError:
            return _error(400, "invalid fields", fields={"client_secret_expires_at": [
                "must be an ISO 8601 date and time, e.g. 2027-11-24T00:00:00Z"]})
    result = check(_ext("settings"), credentials, now=dt.datetime.now(dt.UTC))
    if result["status"] != "connected":
        return jsonify(result), 422
    connection: ConnectionStore = _ext("connection")
    state: StateStore = _ext("state")
    if release:  # another tenant: what the old one synced is left to the PBX, untouched
        state.forget_tenant()
    connection.save(credentials)
    connection.record_check(result)
    state.set_links_tenant(credentials.tenant_id)
    if (state.flags() or {}).get("state", "disconnected") == "disconnected":
        state.set_flags(state="enabled")
    send(_ext("broker"), MAINTAIN_SUBSCRIPTIONS)
    return jsonify(result), 200


@blueprint.get("/settings")
@admin_only
def get_settings() -> Response:
    return jsonify(_ext("state").settings())


@blueprint.patch("/settings")
@admin_only
def patch_settings() -> tuple[Response, int]:
    state: StateStore = _ext("state")
    patch = request.get_json(silent=True)
    current = state.flags() or DEFAULT_FLAGS
    if current["state"] != "enabled":
        return _error(409, f"the integration is {current['state']}: settings are read-only")
    if isinstance(patch, dict) and "users" in patch and current["users_paused"]:
        return _error(409, "user sync is paused: its settings are read-only")
    if isinstance(patch, dict) and "groups" in patch and current["groups_paused"]:
        return _error(409, "group sync is paused: its settings are read-only")
    try:
        document = merge(state.settings(), patch)
    except SettingsInvalid as exc:
        return _error(400, "invalid settings", fields=exc.errors)
    before = _situation()
    state.save_settings(document)
    if state.flags() is None:  # never stored, or lost: saving the settings turns them on
        state.set_flags(state="enabled")
    answer: dict[str, Any] = {"settings": document}
    if isinstance(patch, dict) and "contacts" in patch:  # the mailboxes to watch may change
        send(_ext("broker"), MAINTAIN_SUBSCRIPTIONS)
    for part in (*SYNC_PARTS, "presence"):
        if isinstance(patch, dict) and part in patch:
            state.mark_saved(part)
    after = _situation()
    first = [part for part in SYNC_PARTS  # U10, G5: the save that turns a part on syncs it
             if before.why_not(part) is not None and after.why_not(part) is None]
    if first:  # several at once: one run, users first, so that groups find their extensions
        scope = first[0] if len(first) == 1 else "all"
        answer["run_id"] = _queue_run(scope, dry_run=False, allow_deletions=False,
                                      trigger="first save")
        answer["run_ids"] = {scope: answer["run_id"]}
    return jsonify(answer), 200


@blueprint.post("/sync")
@admin_only
def sync_now() -> tuple[Response, int]:
    body = _body()
    scope = body.get("scope", "all")
    if scope not in ("all", "users", "groups", "contacts"):
        return _error(400, "invalid scope", fields={"scope": ["all, users, groups or contacts"]})
    if scope not in SCOPES_AVAILABLE:
        return _error(400, f"{scope} sync is not available in this version",
                      fields={"scope": [f"available: {', '.join(SCOPES_AVAILABLE)}"]})
    parts, refusals = _situation().runnable(scope)
    if not parts:
        refusal = refusal_of(refusals)
        return _error(409, refusal.message, reason=refusal.reason)
    run_id = _queue_run(scope, dry_run=bool(body.get("dry_run", False)),
                        allow_deletions=bool(body.get("allow_deletions", False)), trigger="manual")
    return jsonify(run_id=run_id), 202


def _wind_down(action: str, delete_extensions: bool, delete_groups: bool = False) -> str | None:
    """Queue the deletion or release of synced objects; returns the run id, if any."""
    if not delete_extensions and not delete_groups and action != "disconnect":
        return None
    run = Run.new("all", trigger=action, action=action,
                  options={"delete_extensions": delete_extensions, "delete_groups": delete_groups})
    _ext("state").save_run(run)
    send(_ext("broker"), WIND_DOWN, run.id, action, delete_extensions, delete_groups)
    return run.id


def _options(*names: str) -> dict[str, bool] | tuple[Response, int]:
    body = _body()
    bad = [n for n in names if n in body and not isinstance(body[n], bool)]
    if bad:
        return _error(400, "invalid options", fields={n: ["must be true or false"] for n in bad})
    return {n: bool(body.get(n, False)) for n in names}


@blueprint.post("/integration/enable")
@admin_only
def enable() -> tuple[Response, int]:
    if (_ext("state").flags() or {}).get("state") == "disconnected":
        return _error(409, "the integration is disconnected: PUT /api/connection to connect again")
    current = _ext("state").set_flags(state="enabled")
    send(_ext("broker"), MAINTAIN_SUBSCRIPTIONS)
    run_id = _queue_run("all", dry_run=False, allow_deletions=False, trigger="enable")
    return jsonify(flags=current, run_id=run_id), 200


@blueprint.get("/runs")
@admin_only
def runs() -> Response:
    limit = min(max(request.args.get("limit", 20, type=int) or 20, 1), 200)
    return jsonify(runs=[_brief(r) for r in _ext("state").runs(limit=limit)])


@blueprint.get("/runs/<run_id>")
@admin_only
def run(run_id: str) -> tuple[Response, int]:
    record = _ext("state").run(run_id)
    if record is None:
        return _error(404, "no such run")
    return jsonify(record), 200


def _synced_number(number: str) -> bool:
    return any(link.number == number for link in _ext("state").user_links().values())


@blueprint.get("/extensions/<number>/presence")
@admin_only
def get_presence_preference(number: str) -> tuple[Response, int]:
    if not _synced_number(number):
        return _error(404, f"extension {number} is not synced from Entra ID")
    return jsonify(effective(_ext("state").presence_preferences().get(number))), 200


@blueprint.put("/extensions/<number>/presence")
@admin_only
def put_presence_preference(number: str) -> tuple[Response, int]:
    """P2: turn Teams presence on or off for an extension, and map availability to presence."""
    if not _synced_number(number):
        return _error(404, f"extension {number} is not synced from Entra ID")
    preference = request.get_json(silent=True)
    errors = map_errors(preference)
    if errors:
        return _error(400, "invalid presence settings", fields=errors)
    stored = {"enabled": preference.get("enabled", True), "map": preference.get("map", {})}
    _ext("state").set_presence_preference(number, stored)
    return jsonify(effective(stored)), 200


def _queue_run(scope: str, *, dry_run: bool, allow_deletions: bool, trigger: str) -> str:
    run = Run.new(scope, dry_run=dry_run, trigger=trigger, allow_deletions=allow_deletions)
    _ext("state").save_run(run)
    send(_ext("broker"), RUN_SYNC, run.id, allow_deletions)
    return run.id


def _stop(action: str, option_names: tuple[str, ...], **flag_changes: Any) -> tuple[Response, int]:
    """Set the flags that stop syncing at once, then queue the deletions or releases asked for."""
    options = _options(*option_names)
    if isinstance(options, tuple):
        return options
    current = _ext("state").set_flags(**flag_changes)
    run_id = _wind_down(action, options.get("delete_extensions", False),
                        options.get("delete_groups", False))
    return jsonify(flags=current, run_id=run_id), 200


def _resume(part: str, **flag_changes: Any) -> tuple[Response, int]:
    """Clear a pause, and run that part at once unless something else still stops it."""
    current = _ext("state").set_flags(**flag_changes)
    blocked = _situation().why_not(part)
    run_id = None if blocked else _queue_run(part, dry_run=False, allow_deletions=False,
                                             trigger="resume")
    return jsonify(flags=current, run_id=run_id), 200


@blueprint.post("/user-sync/pause")
@admin_only
def pause_users() -> tuple[Response, int]:
    return _stop("pause", ("delete_extensions",), users_paused=True)


@blueprint.post("/user-sync/resume")
@admin_only
def resume_users() -> tuple[Response, int]:
    return _resume("users", users_paused=False)


@blueprint.post("/group-sync/pause")
@admin_only
def pause_groups() -> tuple[Response, int]:
    return _stop("pause", ("delete_groups",), groups_paused=True)


@blueprint.post("/group-sync/resume")
@admin_only
def resume_groups() -> tuple[Response, int]:
    return _resume("groups", groups_paused=False)


@blueprint.post("/integration/disable")
@admin_only
def disable() -> tuple[Response, int]:
    return _stop("disable", ("delete_extensions", "delete_groups"), state="disabled")


@blueprint.post("/integration/disconnect")
@admin_only
def disconnect() -> tuple[Response, int]:
    return _stop("disconnect", ("delete_extensions", "delete_groups"), state="disconnected")
