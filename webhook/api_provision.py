"""Provision one user on demand: `POST /api/provision` and the user picker it needs.

`POST /api/provision` `{"user_id": "<Entra object id>"}` → 200 `{"user", "steps", "result",
"run_id"}` (core/users/explain.py); 400 for a missing or malformed `user_id`; 404 `{"error":
"no such user in Entra ID"}`; 409 `{"error", "reason"}` when user sync may not run now
(core/engine/rules) or, `reason` "busy", when a sync holds the lock for longer than
`BUSY_WAIT` seconds; 502 when Entra ID cannot be read.
`GET /api/provision/users?q=<start of name or email>` → `{"users": [{"id", "name", "upn",
"mail", "linked_extension"}]}`, at most 25, by name.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, request

from core.clients import pbx_client
from core.engine.lock import FencedLock
from core.errors import ConfigError, SyncError
from core.users.directory import user_select
from core.users.explain import report
from core.users.provision import provision
from webhook.api import body, error, ext, situation
from webhook.audit import audit
from webhook.auth import admin_only
from workers.jobs import LOCK_TTL

blueprint = Blueprint("api_provision", __name__, url_prefix="/api")
BUSY_WAIT = 5.0
BUSY = "a sync is running; try again when it ends"
MAX_QUERY = 120
PICKER_SIZE = 25
# an object id, or a user principal name (a guest's has `#EXT#`): nothing that leaves the path
_USER_ID = re.compile(r"^[A-Za-z0-9@._#'+-]{1,256}$")


@blueprint.post("/provision")
@admin_only
def provision_user() -> tuple[Response, int]:
    user_id = body().get("user_id")
    if not isinstance(user_id, str) or not _USER_ID.match(user_id.strip()):
        return error(400, "invalid user_id", fields={"user_id": ["the Entra object id of a user"]})
    refusal = situation().why_not("users")
    if refusal is not None:
        return error(409, refusal.message, reason=refusal.reason)
    lock = FencedLock(ext("redis"), ext("state").keys.sync_lock(), ttl=LOCK_TTL)
    with lock.held(wait=BUSY_WAIT) as held:
        if not held:
            return error(409, BUSY, reason="busy")
        refusal = situation().why_not("users")  # the settings may have changed while waiting
        if refusal is not None:
            return error(409, refusal.message, reason=refusal.reason)
        return _provision(user_id.strip(), lock)


def _provision(user_id: str, lock: FencedLock) -> tuple[Response, int]:
    """Read the user, then sync them under the held lock; the steps and the result."""
    state, document = ext("state"), ext("state").settings()
    try:
        graph = ext("graph")()
        user = graph.user(user_id, select=user_select(document["users"]))
    except ConfigError as exc:
        return error(409, str(exc), reason="not_connected")
    except SyncError as exc:
        return error(502, f"Entra ID could not be read: {exc}")
    if user is None:
        return error(404, "no such user in Entra ID")
    pbx = pbx_client(ext("settings"))
    try:
        seen, writes, run = provision(user, graph=graph, pbx=pbx, store=state,
                                      document=document, fence=lock.check,
                                      fenced_hset=lock.check_and_hset)
    finally:
        pbx.token_source.close()  # one token a request: the PBX allows few per API client
    answer = report(seen, writes, run, state.user_links().get(user.id))
    audit("user_provisioned", {"user_id": user.id, "name": answer["user"]["name"],
                               "outcome": answer["result"]["outcome"],
                               "extension": answer["result"]["extension"],
                               "run_id": run.id})
    return jsonify(answer), 200


@blueprint.get("/provision/users")
@admin_only
def pick_user() -> tuple[Response, int]:
    start = request.args.get("q", "").strip()
    if len(start) > MAX_QUERY:
        return error(400, f"q is limited to {MAX_QUERY} characters")
    try:
        found = ext("graph")().find_users(start, top=PICKER_SIZE)
    except ConfigError:
        return error(409, "connect the tenant first", reason="not_connected")
    except SyncError as exc:
        return error(502, f"Entra ID could not be read: {exc}")
    linked = {uid: link.number for uid, link in ext("state").user_links().items()}
    users = sorted(found, key=lambda u: ((u.display_name or "").lower(), u.id))
    return jsonify(users=[{"id": u.id, "name": u.display_name, "upn": u.user_principal_name,
                           "mail": u.mail, "linked_extension": linked.get(u.id)}
                          for u in users]), 200
