"""`POST /users/{id | userPrincipalName}/checkMemberGroups`: which of the given groups a user is in.

As "user: checkMemberGroups" (https://learn.microsoft.com/en-us/graph/api/user-checkmembergroups)
says: the body is `{"groupIds": [...]}`, at most 20 ids a request; the check is transitive (a
member of a nested group is a member); the answer is `200 OK` with a `Collection(Edm.String)`
`value` holding those of the given ids the user is a member of. Ids that name no group are not
in it. Application permissions: User.Read.All and GroupMember.Read.All (or Group.Read.All), or
Directory.Read.All: a user-reading role and a group-reading role both.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from sandbox.graph import auth
from sandbox.graph.auth import store_of
from sandbox.graph.odata import GraphFailure, bad_request, not_found
from sandbox.graph.paging import context_url

blueprint = Blueprint("membership", __name__, url_prefix="/v1.0")
MAX_GROUP_IDS = 20
# An action may be named bare or with its namespace or the namespace's alias `graph`.
_PATHS = [f"/users/<key>/{prefix}checkMemberGroups"
          for prefix in ("", "microsoft.graph.", "graph.")]


def check_member_groups(key: str) -> Response:
    store = store_of()
    auth.authorize(*auth.USER_READ)
    auth.authorize(*auth.GROUP_READ)
    body = request.get_json(silent=True)
    ids = body.get("groupIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request("Invalid request body: 'groupIds' must be a collection of strings.")
    if len(ids) > MAX_GROUP_IDS:
        raise bad_request(f"The request has {len(ids)} group ids; at most {MAX_GROUP_IDS} are "
                          "allowed.")
    with store.lock:
        user = store.user(key)
        if user is None:
            raise not_found(key)
        found = [g for g in dict.fromkeys(ids)
                 if g in store.groups.items and user["id"] in store.transitive_members(g)]
    return jsonify({"@odata.context": context_url("Collection(Edm.String)"), "value": found})


for _path in _PATHS:
    blueprint.add_url_rule(_path, view_func=check_member_groups, methods=["POST"])


@blueprint.errorhandler(GraphFailure)
def _failure(failure: GraphFailure) -> Response:
    return failure.response()
