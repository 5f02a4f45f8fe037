"""`GET /api/audit`: the audit log, newest first (webhook/audit.py says what goes in)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from core.store.audit import KEPT, AuditLog
from webhook.auth import admin_only

blueprint = Blueprint("api_audit", __name__, url_prefix="/api")
FIELDS = ("at", "actor", "action", "details", "source")


@blueprint.get("/audit")
@admin_only
def entries() -> Response:
    """`?limit=` (1 to 2,000, default 100) entries, only those of `?action=` when given."""
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), KEPT)
    action = request.args.get("action") or None
    state = current_app.extensions["state"]
    found = AuditLog(state.redis, state.keys).entries(limit=limit, action=action)
    return jsonify(entries=[{name: entry.get(name) for name in FIELDS} for entry in found])
