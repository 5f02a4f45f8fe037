"""Teams presence: reads by user, the bulk `getPresencesByUserId`, and `setPresence`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.graph import auth
from sandbox.graph.auth import store_of
from sandbox.graph.odata import GraphFailure, bad_request, not_found
from sandbox.graph.paging import context_url
from sandbox.graph.store import AVAILABILITY

blueprint = Blueprint("presence", __name__, url_prefix="/v1.0")
MAX_IDS = 650


def _view(presence: dict[str, Any]) -> dict[str, Any]:
    return dict(presence) | {"outOfOfficeSettings": {"message": None, "isOutOfOffice": False}}


@blueprint.get("/users/<key>/presence")
@blueprint.get("/communications/presences/<key>")
def get_presence(key: str) -> Response:
    store = store_of()
    auth.authorize(*auth.PRESENCE_READ, denied=auth.TEAMS)
    with store.lock:
        user = store.user(key)
        if user is None:
            raise not_found(key)
        return jsonify({"@odata.context": context_url("users/presence/$entity")}
                       | _view(store.presence[user["id"]]))


@blueprint.post("/communications/getPresencesByUserId")
def presences_by_user_id() -> Response:
    store = store_of()
    auth.authorize(*auth.PRESENCE_READ, denied=auth.TEAMS)
    body = request.get_json(silent=True)
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request("The request body must hold 'ids', an array of user ids.", "BadRequest")
    if len(ids) > MAX_IDS:
        raise bad_request(f"A maximum of {MAX_IDS} user ids is supported per request.",
                          "BadRequest")
    with store.lock:
        rows = [_view(store.presence[i]) for i in ids if i in store.presence]
    return jsonify({"@odata.context": context_url("Collection(microsoft.graph.presence)"),
                    "value": rows})


@blueprint.post("/users/<key>/presence/setPresence")
def set_presence(key: str) -> tuple[str, int]:
    store = store_of()
    auth.authorize(*auth.PRESENCE_WRITE, denied=auth.TEAMS)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("A JSON object body is required.", "BadRequest")
    for name in ("sessionId", "availability", "activity"):
        if not body.get(name):
            raise bad_request(f"The '{name}' property is required.", "BadRequest")
    if body["availability"] not in AVAILABILITY:
        raise bad_request(f"Invalid availability '{body['availability']}'.", "BadRequest")
    with store.lock:
        user = store.user(key)
        if user is None:
            raise not_found(key)
        store.set_presence(user["id"], body["availability"], body["activity"])
    return "", 200


@blueprint.errorhandler(GraphFailure)
def _failure(failure: GraphFailure) -> Response:
    return failure.response()
