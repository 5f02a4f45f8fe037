"""The console's directory pages: the synced extensions (P2 per extension), provisioning one
user on demand, and the audit log.

As every console page, each reads its data through the admin API view that serves the same
path under `/api` (`from_api`), with this request's query; changes go through the JSON API from
the browser (`static/console.js`, and `static/directory.js` for provisioning).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, redirect, request, url_for
from werkzeug.exceptions import HTTPException

from core.presence.plan import AVAILABILITY, DEFAULT_MAP, PBX_PRESENCE
from webhook.auth import admin_session
from webhook.console import admin_page, from_api, render

blueprint = Blueprint("console_directory", __name__)

ACTIONS = {"settings": "Settings changed", "connect": "Connected",
           "secret_rotated": "Secret rotated", "user_sync_paused": "User sync paused",
           "user_sync_resumed": "User sync resumed", "group_sync_paused": "Group sync paused",
           "group_sync_resumed": "Group sync resumed",
           "integration_disabled": "Integration disabled",
           "integration_enabled": "Integration enabled",
           "integration_disconnected": "Integration disconnected",
           "deletions_allowed": "Deletions allowed", "presence_authorized": "Presence authorized",
           "presence_revoked": "Presence authorization removed",
           "extension_presence": "Extension presence changed (by an administrator)",
           "my_presence": "Own presence changed (by the user)",
           "linkus_password_set": "Linkus password set (by the user)",
           "user_provisioned": "User provisioned on demand"}
PARTS = {"users": "User sync", "groups": "Group sync", "contacts": "Outlook contacts",
         "presence": "Teams presence", "sso": "Sign-in with Microsoft", "schedule": "Schedule",
         "safety": "Safety", "performance": "Performance"}
PAGE_SIZES = (25, 50, 100, 200)


def api_answer(path: str) -> tuple[int, Any]:
    """What the admin API view serving GET `path` answers to this request's query."""
    try:
        endpoint, args = current_app.url_map.bind_to_environ(request.environ).match(path, "GET")
    except HTTPException:
        return 404, {"error": f"this server has no {path} yet"}
    return from_api(current_app.view_functions[endpoint], **args)


@blueprint.get("/extensions")
@admin_page
def extensions_page() -> Response:
    """The synced extensions, their users and each one's presence choice, editable."""
    status, data = api_answer("/api/extensions")
    _, settings = api_answer("/api/settings")
    presence_on = bool(((settings or {}).get("presence") or {}).get("enabled"))
    return render("console/extensions.html", "Extensions", presence_on=presence_on,
                  error=None if status == 200 else (data or {}).get("error"),
                  extensions=(data or {}).get("extensions", []), q=request.args.get("q", ""),
                  page=data if status == 200 else {},
                  availabilities=AVAILABILITY, statuses=PBX_PRESENCE, default_map=DEFAULT_MAP)


@blueprint.get("/provision")
@admin_page
def provision_page() -> Response:
    """Provision one user on demand: find them in Entra ID, then sync them now."""
    q = request.args.get("q", "").strip()
    status, data = api_answer("/api/provision/users") if q else (200, {"users": []})
    return render("console/provision.html", "Provision a user", q=q, users=data.get("users", []),
                  error=None if status == 200 else (data or {}).get("error"))


@blueprint.get("/provision/users")
def provision_users() -> Response:
    """The search results alone, for htmx as the administrator types."""
    q = request.args.get("q", "").strip()
    if not admin_session():
        return render("console/directory_users.html", "", q=q, users=[],
                      error="Your session has ended: sign in again.")
    status, data = api_answer("/api/provision/users") if q else (200, {"users": []})
    return render("console/directory_users.html", "", q=q, users=data.get("users", []),
                  error=None if status == 200 else (data or {}).get("error"))


@blueprint.get("/audit")
@admin_page
def audit_page() -> Any:
    """Who changed what, newest first, filtered by action, `limit` entries at a time."""
    limit = request.args.get("limit", 0, type=int)
    if limit < 1:  # the page's own default, so that it knows whether more entries wait
        return redirect(url_for(".audit_page", action=request.args.get("action") or None,
                                limit=50))
    status, data = api_answer("/api/audit")
    action = request.args.get("action", "")
    actions = dict(ACTIONS) | ({action: words_for(action)} if action else {})
    return render("console/audit.html", "Audit log", entries=(data or {}).get("entries", []),
                  error=None if status == 200 else (data or {}).get("error"),
                  limit=limit, action=action, actions=actions, page_sizes=PAGE_SIZES)


@blueprint.app_template_filter("action_words")
def words_for(action: str) -> str:
    """An audit action as an administrator reads it."""
    return ACTIONS.get(action) or action.replace("_", " ").capitalize()


@blueprint.app_template_filter("setting_words")
def setting_words(field: str) -> str:
    """A settings path ("users.numbering.start") in words ("User sync, numbering, start"
    with angle quotes between)."""
    first, *rest = field.split(".")
    return " \u203a ".join([PARTS.get(first, first), *(p.replace("_", " ") for p in rest)])


@blueprint.app_template_filter("detail_words")
def detail_words(key: str) -> str:
    return key.replace("_", " ").capitalize()


@blueprint.app_template_filter("shown_value")
def shown_value(value: Any) -> str:
    """A setting's or detail's value, short and plain."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(shown_value(v) for v in value) if value else "(none)"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)

