"""What the admin picks from Entra ID: `GET /api/entra/groups` (G1's picker, also used for the
user and contact ranges and the SSO admin groups), 200 groups a page, searchable by name; and
`GET /api/entra/shared-mailboxes` (O2's "given mailboxes")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from core.contacts.mailboxes import shared_mailboxes
from core.errors import ConfigError, SyncError
from core.graph.client import GraphClient
from core.groups.plan import group_type
from webhook.auth import admin_only

blueprint = Blueprint("entra_api", __name__, url_prefix="/api/entra")
MAX_SEARCH = 120


@blueprint.get("/groups")
@admin_only
def groups() -> tuple[Response, int]:
    """`?search=` (the start of a word of the name) and `?cursor=` (the `next` of a page)."""
    search = request.args.get("search", "").strip()
    if len(search) > MAX_SEARCH:
        return jsonify(error=f"search is limited to {MAX_SEARCH} characters"), 400
    return _read(lambda graph: _groups_page(graph, search, request.args.get("cursor")))


def _groups_page(graph: GraphClient, search: str, cursor: str | None) -> dict[str, Any]:
    page, following = graph.group_page(search=search or None, cursor=cursor or None)
    return {"groups": [{"id": g.id, "name": g.display_name, "type": group_type(g)}
                       for g in page], "next": following}


@blueprint.get("/shared-mailboxes")
@admin_only
def mailboxes() -> tuple[Response, int]:
    """Every shared mailbox, by name: `{"mailboxes": [{"id", "name", "mail"}]}`."""
    return _read(lambda graph: {"mailboxes": sorted(
        ({"id": m.id, "name": m.display_name, "mail": m.mail} for m in shared_mailboxes(graph)),
        key=lambda r: str(r["name"] or r["mail"]).lower())})


def _read(answer: Callable[[GraphClient], dict[str, Any]]) -> tuple[Response, int]:
    """`answer` from Entra ID with the stored credentials: 409 when not connected, 502 when
    Graph could not be read."""
    try:
        return jsonify(answer(current_app.extensions["graph"]())), 200
    except ConfigError:
        return jsonify(error="connect the tenant first"), 409
    except SyncError as exc:
        return jsonify(error=f"Entra ID could not be read: {exc}"), 502
