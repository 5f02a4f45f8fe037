"""`POST /api/settings/preview`: what saving a settings patch would do, without saving it.

The patch is checked as `PATCH /api/settings` checks it (the same 400 and 409 answers), and
the document it would make is kept for a day under the preview run's id. A worker then dry-runs
the parts the patch touches (or every part on, for a patch of none) with that document, under
the sync lock, through the same engine and rules as any run (workers/jobs.py); the run record
gets the sentences an administrator reads (`preview`) and its per-object results.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from core.engine.rules import SYNC_PARTS, preview_parts, proposed, refusal_of
from core.engine.runs import PREVIEW, Run
from core.store.redis import DEFAULT_FLAGS, StateStore
from core.sync_settings import SettingsInvalid, merge
from webhook.api import error, ext, read_only, situation
from webhook.auth import admin_only
from workers.broker import RUN_SYNC, send

blueprint = Blueprint("api_preview", __name__, url_prefix="/api")


@blueprint.post("/settings/preview")
@admin_only
def preview_settings() -> tuple[Response, int]:
    state: StateStore = ext("state")
    patch = request.get_json(silent=True)
    refusal = read_only(patch, state.flags() or DEFAULT_FLAGS)
    if refusal is not None:
        return error(409, refusal[0], reason=refusal[1])
    try:
        document = merge(state.settings(), patch)
    except SettingsInvalid as exc:
        return error(400, "invalid settings", fields=exc.errors)
    asked = preview_parts(patch, document)
    if not asked:
        return error(409, "no sync part would be on: there is nothing to preview", reason="off")
    parts, refusals = proposed(situation(), document, asked).runnable("all")
    parts = [p for p in parts if p in asked]
    if not parts:
        refused = refusal_of({p: r for p, r in refusals.items() if p in asked})
        return error(409, refused.message, reason=refused.reason)
    run = Run.new(parts[0] if len(parts) == 1 else "all", trigger=PREVIEW, dry_run=True,
                  parts_asked=[p for p in SYNC_PARTS if p in parts])
    state.proposed.put(run.id, document)  # before the run can be taken by a worker
    state.save_run(run)
    send(ext("broker"), RUN_SYNC, run.id, False)
    return jsonify(run_id=run.id), 202
