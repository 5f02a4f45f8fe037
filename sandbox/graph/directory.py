"""Users, groups, memberships and deleted items: reads, delta and the real Graph writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request

from sandbox.graph import auth
from sandbox.graph.auth import store_of
from sandbox.graph.odata import (
    GraphFailure,
    bad_request,
    not_found,
    parse_select,
    project,
    without_annotations,
)
from sandbox.graph.paging import context_url, delta_page, list_page
from sandbox.graph.store import (
    GROUP_DEFAULT,
    GROUP_PROPERTIES,
    USER_DEFAULT,
    USER_PROPERTIES,
    GraphStore,
)

blueprint = Blueprint("directory", __name__, url_prefix="/v1.0")
View = TypeVar("View", bound=Callable[..., Any])
_USER_WRITABLE = set(USER_PROPERTIES) - {"id", "createdDateTime"} | {"passwordProfile"}
_GROUP_WRITABLE = set(GROUP_PROPERTIES) - {"id", "createdDateTime", "members"}
# Graph's `$metadata` declares `<Schema Namespace="microsoft.graph" Alias="graph">`, so an OData
# cast or a function may be named either way; the Graph SDKs write casts as `graph.user`
# (their URL template `/groups/{group-id}/transitiveMembers/graph.user`).
_NAMESPACES = ("microsoft.graph", "graph")


def _user_view(user: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    return project(user, select, USER_DEFAULT)


def _group_view(group: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    return project(group, [s for s in select if s != "members"] if select else None,
                   GROUP_DEFAULT)


def _typed(store: GraphStore, object_id: str, select: list[str] | None) -> dict[str, Any]:
    """A member as a `directoryObject`: its `@odata.type`, then its default or selected fields."""
    if object_id in store.groups.items:
        return {"@odata.type": "#microsoft.graph.group"} | _group_view(
            store.groups.items[object_id], select)
    return {"@odata.type": "#microsoft.graph.user"} | _user_view(store.users.items[object_id],
                                                                  select)


def _delta_paths(collection: str) -> list[str]:
    """`/delta` is a shortcut for `/microsoft.graph.delta` ("Use delta query to track changes
    in Microsoft Graph data", https://learn.microsoft.com/en-us/graph/delta-query-overview), and
    a parameterless function may be called with or without `()`: the Graph SDKs, generated
    from Microsoft's OpenAPI description of v1.0, call `/users/delta()` (msgraph-sdk-python's
    URL template `{+baseurl}/users/delta()`)."""
    names = ["delta", *(f"{namespace}.delta" for namespace in _NAMESPACES)]
    return [f"/{collection}/{name}{call}" for name in names for call in ("", "()")]


def _get(*paths: str) -> Callable[[View], View]:
    """Registers a GET view under several paths."""
    def register(view: View) -> View:
        for path in paths:
            blueprint.add_url_rule(path, view_func=view, methods=["GET"])
        return view
    return register


def _user_or_404(store: GraphStore, key: str) -> dict[str, Any]:
    user = store.user(key)
    if user is None:
        raise not_found(key)
    return user


def _group_or_404(store: GraphStore, group_id: str) -> dict[str, Any]:
    group = store.groups.items.get(group_id)
    if group is None:
        raise not_found(group_id)
    return group


def _body(allowed: set[str], entity: str) -> dict[str, Any]:
    """The write body's properties: `@odata.*` annotations set aside, unknown names refused."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("Write requests require a JSON object body.", "BadRequest")
    body = without_annotations(body, entity)
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(f"Invalid property '{unknown[0]}'.")
    return body


# users -----------------------------------------------------------------------------------
@blueprint.get("/users")
def list_users() -> Response:
    store = store_of()
    auth.authorize(*auth.USER_READ)
    with store.lock:
        users = list(store.users.items.values())
    return jsonify(list_page(users, entity="user", properties=USER_PROPERTIES,
                             represent=_user_view, context="users"))


@_get(*_delta_paths("users"))
def users_delta() -> Response:
    store = store_of()
    auth.authorize(*auth.USER_READ)
    with store.lock:
        return jsonify(delta_page(store, store.users, entity="user", properties=USER_PROPERTIES,
                                  represent=lambda u, s, _since: _user_view(u, s),
                                  context="users"))


@blueprint.get("/users/<key>")
def get_user(key: str) -> Response:
    store = store_of()
    auth.authorize(*auth.USER_READ)
    with store.lock:
        user = _user_or_404(store, key)
        select = parse_select(request.args.get("$select"), "user",
                              (*USER_PROPERTIES, "mailboxSettings"))
        view = _user_view(user, select)
        if select and "mailboxSettings" in select:  # "Get user mailbox settings": its own right
            auth.authorize(*auth.MAILBOX_READ, denied=auth.EXCHANGE)
        if select and "mailboxSettings" in select and user["id"] in store.mailbox_settings:
            view["mailboxSettings"] = store.mailbox_settings[user["id"]]
    return jsonify({"@odata.context": context_url("users/$entity")} | view)


@blueprint.post("/users")
def create_user() -> tuple[Response, int]:
    store = store_of()
    auth.authorize(*auth.USER_WRITE)
    body = _body(_USER_WRITABLE, "user")
    for name in ("accountEnabled", "displayName", "mailNickname", "userPrincipalName",
                 "passwordProfile"):
        if name not in body:
            raise bad_request(f"Property '{name}' is required when creating the object.")
    with store.lock:
        if store.user(body["userPrincipalName"]) is not None:
            raise bad_request("Another object with the same value for property "
                              "userPrincipalName already exists.")
        body.pop("passwordProfile")
        # Graph answers null for a property never set, never leaves it out ("user resource type")
        unset = dict.fromkeys(_USER_WRITABLE - {"passwordProfile"})
        user = unset | {"businessPhones": [], "userType": "Member", "mail": body["userPrincipalName"],
                "givenName": None, "surname": None, "jobTitle": None, "mobilePhone": None,
                "officeLocation": None, "preferredLanguage": None,
                "onPremisesExtensionAttributes": {f"extensionAttribute{i}": None
                                                  for i in range(1, 16)}} | body
        store.put_user(user)
        return jsonify({"@odata.context": context_url("users/$entity")}
                       | _user_view(user, None)), 201


@blueprint.patch("/users/<key>")
def update_user(key: str) -> tuple[str, int]:
    store = store_of()
    auth.authorize(*auth.USER_WRITE)
    body = _body(_USER_WRITABLE, "user")
    body.pop("passwordProfile", None)
    with store.lock:
        user = _user_or_404(store, key)
        upn = body.get("userPrincipalName")
        if upn and (other := store.user(upn)) is not None and other["id"] != user["id"]:
            raise bad_request("Another object with the same value for property "
                              "userPrincipalName already exists.")
        if "onPremisesExtensionAttributes" in body:
            body["onPremisesExtensionAttributes"] = (user.get("onPremisesExtensionAttributes")
                                                     or {}) | body["onPremisesExtensionAttributes"]
        store.put_user(user | body)
    return "", 204


@blueprint.delete("/users/<key>")
def delete_user(key: str) -> tuple[str, int]:
    store = store_of()
    auth.authorize(*auth.USER_WRITE)
    with store.lock:
        store.soft_delete_user(_user_or_404(store, key)["id"])
    return "", 204


# deleted items ---------------------------------------------------------------------------
@blueprint.get("/directory/deletedItems")
def deleted_items_without_cast() -> Response:
    raise bad_request("The OData cast to microsoft.graph.user or microsoft.graph.group is "
                      "required on directory/deletedItems.")


@_get(*(f"/directory/deletedItems/{namespace}.<kind>" for namespace in _NAMESPACES))
def deleted_items(kind: str) -> Response:
    store = store_of()
    if kind not in ("user", "group"):
        raise bad_request(f"Unsupported cast 'microsoft.graph.{kind}'.")
    auth.authorize(*(auth.USER_READ if kind == "user" else auth.GROUP_READ))
    with store.lock:
        items = list((store.deleted_users if kind == "user" else store.deleted_groups).values())
    properties = (*USER_PROPERTIES, "deletedDateTime") if kind == "user" else (
        *GROUP_PROPERTIES, "deletedDateTime")
    default = (*USER_DEFAULT, "deletedDateTime") if kind == "user" else (
        *GROUP_DEFAULT, "deletedDateTime")
    return jsonify(list_page(items, entity=kind, properties=properties,
                             represent=lambda o, s: project(o, s, default),
                             context=f"directory/deletedItems/microsoft.graph.{kind}"))


@blueprint.post("/directory/deletedItems/<object_id>/restore")
def restore(object_id: str) -> Response:
    store = store_of()
    auth.authorize(*auth.USER_WRITE)
    with store.lock:
        if object_id in store.deleted_users:
            return jsonify(_user_view(store.restore_user(object_id), None))
        if object_id in store.deleted_groups:
            group = store.deleted_groups.pop(object_id)
            group.pop("deletedDateTime", None)
            return jsonify(_group_view(store.put_group(group), None))
    raise not_found(object_id)


@blueprint.delete("/directory/deletedItems/<object_id>")
def purge(object_id: str) -> tuple[str, int]:
    store = store_of()
    auth.authorize(*auth.USER_WRITE)
    with store.lock:
        if object_id in store.deleted_users:
            store.purge_user(object_id)
            return "", 204
        if object_id in store.deleted_groups:
            del store.deleted_groups[object_id]
            store.groups.removed[object_id] = "deleted"
            return "", 204
    raise not_found(object_id)


# groups ----------------------------------------------------------------------------------
@blueprint.get("/groups")
def list_groups() -> Response:
    store = store_of()
    auth.authorize(*auth.GROUP_READ)
    with store.lock:
        groups = list(store.groups.items.values())
    return jsonify(list_page(groups, entity="group", properties=GROUP_PROPERTIES,
                             represent=_group_view, context="groups"))


@_get(*_delta_paths("groups"))
def groups_delta() -> Response:
    store = store_of()
    auth.authorize(*auth.GROUP_READ)

    def represent(group: dict[str, Any], select: list[str] | None, since: int) -> dict[str, Any]:
        view = _group_view(group, select)
        if select is None or "members" in select:
            changes = store.member_changes(group["id"], since)
            view["members@delta"] = [
                {"@odata.type": f"#microsoft.graph.{store.kind_of(m)}", "id": m}
                | ({} if added else {"@removed": {"reason": "deleted"}})
                for m, added in sorted(changes.items())]
        return view

    with store.lock:
        return jsonify(delta_page(store, store.groups, entity="group",
                                  properties=GROUP_PROPERTIES, represent=represent,
                                  context="groups"))


@blueprint.get("/groups/<group_id>")
def get_group(group_id: str) -> Response:
    store = store_of()
    auth.authorize(*auth.GROUP_READ)
    with store.lock:
        group = _group_or_404(store, group_id)
        select = parse_select(request.args.get("$select"), "group", GROUP_PROPERTIES)
        return jsonify({"@odata.context": context_url("groups/$entity")}
                       | _group_view(group, select))


def _members_page(group_id: str, *, transitive: bool, users_only: bool) -> Response:
    store = store_of()
    auth.authorize(*auth.GROUP_READ)
    if transitive and users_only and not (
        request.headers.get("ConsistencyLevel", "").lower() == "eventual"
    ):
        raise bad_request("The OData cast on transitiveMembers requires the ConsistencyLevel "
                          "header set to eventual.", "Request_UnsupportedQuery")
    with store.lock:
        _group_or_404(store, group_id)
        ids = (store.transitive_members(group_id) if transitive
               else sorted(store.members.get(group_id, set())))
        objects = [store.users.items.get(i) or store.groups.items[i] for i in ids
                   if i in store.users.items or (i in store.groups.items and not users_only)]
        # `$select` picks each member's fields as on its own type, the way it does on /users
        # ("List group members" and "List group transitive members" support `$select`:
        # https://learn.microsoft.com/en-us/graph/api/group-list-members,
        # https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers); without it
        # each member comes with its type's default set.
        return jsonify(list_page(
            objects, entity="user" if users_only else "directoryObject",
            properties=USER_PROPERTIES if users_only else (*USER_PROPERTIES, *GROUP_PROPERTIES),
            represent=lambda o, s: _typed(store, o["id"], s),
            context="users" if users_only else "directoryObjects"))


def _cast_paths(relation: str) -> list[str]:
    return [f"/groups/<group_id>/{relation}/{namespace}.user" for namespace in _NAMESPACES]


@blueprint.get("/groups/<group_id>/members")
def members(group_id: str) -> Response:
    return _members_page(group_id, transitive=False, users_only=False)


@_get(*_cast_paths("members"))
def user_members(group_id: str) -> Response:
    return _members_page(group_id, transitive=False, users_only=True)


@blueprint.get("/groups/<group_id>/transitiveMembers")
def transitive_members(group_id: str) -> Response:
    return _members_page(group_id, transitive=True, users_only=False)


@_get(*_cast_paths("transitiveMembers"))
def transitive_user_members(group_id: str) -> Response:
    return _members_page(group_id, transitive=True, users_only=True)


@blueprint.post("/groups")
def create_group() -> tuple[Response, int]:
    store = store_of()
    auth.authorize(*auth.GROUP_WRITE)
    body = _body(_GROUP_WRITABLE, "group")
    for name in ("displayName", "mailEnabled", "mailNickname", "securityEnabled"):
        if name not in body:
            raise bad_request(f"Property '{name}' is required when creating the object.")
    with store.lock:
        group = {"description": None, "groupTypes": [], "mail": None, "membershipRule": None,
                 "visibility": None} | body
        if "Unified" in group["groupTypes"]:
            group["mail"] = f"{group['mailNickname']}@{store.domain}"
        store.put_group(group)
        return jsonify({"@odata.context": context_url("groups/$entity")}
                       | _group_view(group, None)), 201


@blueprint.patch("/groups/<group_id>")
def update_group(group_id: str) -> tuple[str, int]:
    store = store_of()
    auth.authorize(*auth.GROUP_WRITE)
    body = _body(_GROUP_WRITABLE, "group")
    with store.lock:
        store.put_group(_group_or_404(store, group_id) | body)
    return "", 204


@blueprint.delete("/groups/<group_id>")
def delete_group(group_id: str) -> tuple[str, int]:
    store = store_of()
    auth.authorize(*auth.GROUP_WRITE)
    with store.lock:
        store.delete_group(_group_or_404(store, group_id)["id"])
    return "", 204


@blueprint.post("/groups/<group_id>/members/$ref")
def add_member(group_id: str) -> tuple[str, int]:
    store = store_of()
    auth.authorize(*auth.GROUP_WRITE)
    body = request.get_json(silent=True)
    ref = body.get("@odata.id") if isinstance(body, dict) else None
    if not isinstance(ref, str) or "/" not in ref:
        raise bad_request("Invalid object identifier in '@odata.id'.")
    member_id = ref.rstrip("/").rsplit("/", 1)[-1]
    with store.lock:
        _group_or_404(store, group_id)
        if member_id not in store.users.items and member_id not in store.groups.items:
            raise not_found(member_id)
        if member_id in store.members.get(group_id, set()):
            raise bad_request("One or more added object references already exist for the "
                              "following modified properties: 'members'.")
        store.add_member(group_id, member_id)
    return "", 204


@blueprint.delete("/groups/<group_id>/members/<member_id>/$ref")
def remove_member(group_id: str, member_id: str) -> tuple[str, int]:
    store = store_of()
    auth.authorize(*auth.GROUP_WRITE)
    with store.lock:
        _group_or_404(store, group_id)
        if member_id not in store.members.get(group_id, set()):
            raise not_found(member_id)
        store.remove_member(group_id, member_id)
    return "", 204


@blueprint.errorhandler(GraphFailure)
def _failure(failure: GraphFailure) -> Response:
    return failure.response()
