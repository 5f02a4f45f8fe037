"""The admin JSON API (INTERFACES.md): settings, sync and runs, and what its other modules share.

Every view is `admin_only` (webhook/auth.py). The API spans three blueprints under `/api`:
this one, `api_connection.py` (status and the Entra connection) and `api_switches.py` (pause,
resume, enable, disable, disconnect, per-extension presence). Secrets go in and never come
out: credentials and client states are sealed in Redis, and no answer carries them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from core.engine.rules import SYNC_PARTS, Situation, refusal_of, situation_of
from core.engine.runs import Run
from core.store.redis import DEFAULT_FLAGS, StateStore
from core.sync_settings import SettingsInvalid, merge
from webhook.audit import audit, changed_fields
from webhook.auth import admin_only
from workers.broker import MAINTAIN_SUBSCRIPTIONS, RUN_SYNC, send

blueprint = Blueprint("api", __name__, url_prefix="/api")
def ext(name: str) -> Any:
    """One of the app's shared objects (state, settings, connection, broker...)."""
    return current_app.extensions[name]


def error(status: int, message: str, **detail: Any) -> tuple[Response, int]:
    return jsonify(error=message, **detail), status


def body() -> dict[str, Any]:
    """The request's JSON object, or an empty one."""
    sent = request.get_json(silent=True)
    return sent if isinstance(sent, dict) else {}


def situation() -> Situation:
    """What may run now, read from the stored switches and settings."""
    credentials = ext("connection").credentials(ext("settings"))
    return situation_of(ext("state"), connected=credentials is not None)


def queue_run(scope: str, *, dry_run: bool, allow_deletions: bool, trigger: str) -> str:
    """Record a queued run and send it to the workers; its id."""
    run = Run.new(scope, dry_run=dry_run, trigger=trigger, allow_deletions=allow_deletions)
    ext("state").save_run(run)
    send(ext("broker"), RUN_SYNC, run.id, allow_deletions)
    return run.id


def read_only(patch: Any, flags: dict[str, Any]) -> tuple[str, str] | None:
    """Why `patch` may not be saved (or previewed) now, and the reason code; None if it may."""
    if flags["state"] != "enabled":
        reason = "not_connected" if flags["state"] == "disconnected" else "disabled"
        return f"the integration is {flags['state']}: settings are read-only", reason
    for part, name in (("users", "user sync"), ("groups", "group sync")):
        if isinstance(patch, dict) and part in patch and flags[f"{part}_paused"]:
            return f"{name} is paused: its settings are read-only", "paused"
    return None


def brief(run: dict[str, Any]) -> dict[str, Any]:
    """A run as lists show it (the list of runs, status)."""
    shown = {k: run.get(k) for k in ("id", "scope", "trigger", "state", "mode", "dry_run",
                                     "created_at", "started_at", "finished_at", "counts",
                                     "progress", "summary")}
    return shown | {k: run.get(k, 0) for k in ("held_total", "failures_total", "objects_total")}


@blueprint.get("/settings")
@admin_only
def get_settings() -> Response:
    return jsonify(ext("state").settings())


@blueprint.patch("/settings")
@admin_only
def patch_settings() -> tuple[Response, int]:
    state: StateStore = ext("state")
    patch = request.get_json(silent=True)
    refusal = read_only(patch, state.flags() or DEFAULT_FLAGS)
    if refusal is not None:
        return error(409, refusal[0], reason=refusal[1])
    previous = state.settings()
    try:
        document = merge(previous, patch)
    except SettingsInvalid as exc:
        return error(400, "invalid settings", fields=exc.errors)
    before = situation()
    state.save_settings(document)
    changes = changed_fields(previous, document)
    if changes:
        audit("settings", {"changes": changes})
    flags = state.flags()
    if flags is None or flags.get("unconfirmed"):  # never stored, or lost: a save confirms them
        state.set_flags(confirm=True, **({} if flags else {"state": "enabled"}))
    answer: dict[str, Any] = {"settings": document}
    if isinstance(patch, dict) and "contacts" in patch:  # the mailboxes to watch may change
        send(ext("broker"), MAINTAIN_SUBSCRIPTIONS)
    for part in (*SYNC_PARTS, "presence"):
        if isinstance(patch, dict) and part in patch:
            state.mark_saved(part)
    after = situation()
    first = [part for part in SYNC_PARTS  # U10, G5: the save that turns a part on syncs it
             if before.why_not(part) is not None and after.why_not(part) is None]
    if first:  # several at once: one run, users first, so that groups find their extensions
        scope = first[0] if len(first) == 1 else "all"
        answer["run_id"] = queue_run(scope, dry_run=False, allow_deletions=False,
                                     trigger="first save")
        answer["run_ids"] = {scope: answer["run_id"]}
    return jsonify(answer), 200


@blueprint.post("/sync")
@admin_only
def sync_now() -> tuple[Response, int]:
    asked = body()
    scope = asked.get("scope", "all")
    if scope not in ("all", "users", "groups", "contacts"):
        return error(400, "invalid scope", fields={"scope": ["all, users, groups or contacts"]})
    parts, refusals = situation().runnable(scope)
    if not parts:
        refusal = refusal_of(refusals)
        return error(409, refusal.message, reason=refusal.reason)
    run_id = queue_run(scope, dry_run=bool(asked.get("dry_run", False)),
                       allow_deletions=bool(asked.get("allow_deletions", False)),
                       trigger="manual")
    if asked.get("allow_deletions"):
        audit("deletions_allowed", {"scope": scope, "run_id": run_id,
                                    "dry_run": bool(asked.get("dry_run", False))})
    return jsonify(run_id=run_id), 202
