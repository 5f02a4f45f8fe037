"""The admin API's switches (C3, C4, M4, M5), the synced extensions and their presence (P2).

Stopping (pause, disable, disconnect) sets its flag at once, then queues a wind-down run for
the deletions or releases asked for; starting again (resume, enable) runs what it may. Each
switch and each presence change is recorded in the audit log.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from core.engine.runs import Run
from core.presence.plan import effective, map_errors
from core.store.runs import RUNS_KEPT
from webhook.api import body, error, ext, queue_run, situation
from webhook.audit import audit
from webhook.auth import admin_only
from workers.broker import MAINTAIN_SUBSCRIPTIONS, WIND_DOWN, send

blueprint = Blueprint("api_switches", __name__, url_prefix="/api")


def _wind_down(action: str, delete_extensions: bool, delete_groups: bool = False) -> str | None:
    """Queue the deletion or release of synced objects; returns the run id, if any."""
    if not delete_extensions and not delete_groups and action != "disconnect":
        return None
    run = Run.new("all", trigger=action, action=action,
                  options={"delete_extensions": delete_extensions, "delete_groups": delete_groups})
    ext("state").save_run(run)
    send(ext("broker"), WIND_DOWN, run.id, action, delete_extensions, delete_groups)
    return run.id


def _options(*names: str) -> dict[str, bool] | tuple[Response, int]:
    asked = body()
    bad = [n for n in names if n in asked and not isinstance(asked[n], bool)]
    if bad:
        return error(400, "invalid options", fields={n: ["must be true or false"] for n in bad})
    return {n: bool(asked.get(n, False)) for n in names}


def _stop(action: str, recorded: str, option_names: tuple[str, ...],
          **flag_changes: Any) -> tuple[Response, int]:
    """Set the flags that stop syncing at once, then queue the deletions or releases asked for."""
    options = _options(*option_names)
    if isinstance(options, tuple):
        return options
    current = ext("state").set_flags(**flag_changes)
    run_id = _wind_down(action, options.get("delete_extensions", False),
                        options.get("delete_groups", False))
    audit(recorded, options | {"run_id": run_id})
    return jsonify(flags=current, run_id=run_id), 200


def _resume(part: str, recorded: str, **flag_changes: Any) -> tuple[Response, int]:
    """Clear a pause, and run that part at once unless something else still stops it."""
    current = ext("state").set_flags(**flag_changes)
    blocked = situation().why_not(part)
    run_id = None if blocked else queue_run(part, dry_run=False, allow_deletions=False,
                                            trigger="resume")
    audit(recorded, {"run_id": run_id})
    return jsonify(flags=current, run_id=run_id), 200


@blueprint.post("/user-sync/pause")
@admin_only
def pause_users() -> tuple[Response, int]:
    return _stop("pause", "user_sync_paused", ("delete_extensions",), users_paused=True)


@blueprint.post("/user-sync/resume")
@admin_only
def resume_users() -> tuple[Response, int]:
    return _resume("users", "user_sync_resumed", users_paused=False)


@blueprint.post("/group-sync/pause")
@admin_only
def pause_groups() -> tuple[Response, int]:
    return _stop("pause", "group_sync_paused", ("delete_groups",), groups_paused=True)


@blueprint.post("/group-sync/resume")
@admin_only
def resume_groups() -> tuple[Response, int]:
    return _resume("groups", "group_sync_resumed", groups_paused=False)


@blueprint.post("/integration/enable")
@admin_only
def enable() -> tuple[Response, int]:
    if (ext("state").flags() or {}).get("state") == "disconnected":
        return error(409, "the integration is disconnected: PUT /api/connection to connect again")
    current = ext("state").set_flags(state="enabled")
    send(ext("broker"), MAINTAIN_SUBSCRIPTIONS)
    parts, _ = situation().runnable("all")
    run_id = queue_run("all", dry_run=False, allow_deletions=False,
                       trigger="enable") if parts else None
    audit("integration_enabled", {"run_id": run_id})
    return jsonify(flags=current, run_id=run_id), 200


@blueprint.post("/integration/disable")
@admin_only
def disable() -> tuple[Response, int]:
    return _stop("disable", "integration_disabled", ("delete_extensions", "delete_groups"),
                 state="disabled")


@blueprint.post("/integration/disconnect")
@admin_only
def disconnect() -> tuple[Response, int]:
    return _stop("disconnect", "integration_disconnected",
                 ("delete_extensions", "delete_groups"), state="disconnected")


@blueprint.get("/extensions")
@admin_only
def extensions() -> Response:
    """The synced extensions by number, with their Entra user and presence choice; `?q=`
    keeps those whose number or name holds it (case-insensitive); `offset` and `limit` (at
    most 1,000, 200 unless given) page through them."""
    state = ext("state")
    links = state.user_links()
    needle = request.args.get("q", "").strip().lower()
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    limit = min(max(request.args.get("limit", 200, type=int) or 200, 1), 1000)
    matched = sorted((link for link in links.values()
                      if needle in link.number.lower() or needle in link.label.lower()),
                     key=lambda link: _by_number(link.number))
    preferences = state.presence_preferences()
    checked = _last_full_user_sync(state.runs(limit=RUNS_KEPT))
    shown = [{"number": link.number, "user_id": link.user_id, "name": link.label,
              "synced_at": checked,  # every link is checked by a full user sync
              "presence": effective(preferences.get(link.user_id))}
             for link in matched[offset:offset + limit]]
    return jsonify(extensions=shown, total=len(links), matched=len(matched), offset=offset,
                   limit=limit)


def _last_full_user_sync(runs: list[dict[str, Any]]) -> str | None:
    """When the newest full user sync that wrote to the PBX (not a dry run) ended."""
    for run in runs:
        users = (run.get("parts") or {}).get("users") or {}
        if (not run.get("dry_run") and users.get("mode") == "full"
                and users.get("state") in ("succeeded", "partial", "blocked")):
            return run.get("finished_at")
    return None


def _by_number(number: str) -> tuple[int, int, str]:
    return (0, int(number), number) if number.isdigit() else (1, 0, number)


def _user_of(number: str) -> str | None:
    """The Entra user an extension number is synced for now: preferences are kept by user."""
    links = ext("state").user_links().values()
    return next((link.user_id for link in links if link.number == number), None)


@blueprint.get("/extensions/<number>/presence")
@admin_only
def get_presence_preference(number: str) -> tuple[Response, int]:
    user_id = _user_of(number)
    if user_id is None:
        return error(404, f"extension {number} is not synced from Entra ID")
    return jsonify(effective(ext("state").presence_preference(user_id))), 200


@blueprint.put("/extensions/<number>/presence")
@admin_only
def put_presence_preference(number: str) -> tuple[Response, int]:
    """P2: turn Teams presence on or off for an extension's user, and map availability to
    presence; the choice stays with the user, not with the number."""
    user_id = _user_of(number)
    if user_id is None:
        return error(404, f"extension {number} is not synced from Entra ID")
    preference = request.get_json(silent=True)
    errors = map_errors(preference)
    if errors:
        return error(400, "invalid presence settings", fields=errors)
    stored = {"enabled": preference.get("enabled", True), "map": preference.get("map", {})}
    ext("state").set_presence_preference(user_id, stored)
    audit("extension_presence", {"number": number, "user_id": user_id} | stored)
    return jsonify(effective(stored)), 200
