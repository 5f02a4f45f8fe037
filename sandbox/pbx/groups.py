"""`extensiongroup/*`: at most 63 groups; members `[{"ext_id", "user_type"}]`, replaced whole."""

from __future__ import annotations

from typing import Any

from sandbox.pbx.api import endpoint, ids, matches, ok, page
from sandbox.pbx.store import PbxFailure, PbxStore, invalid, required

_SELECT = ("sel_all_ext", "sel_specific")
_USER_TYPES = ("user", "manager")


def _group(store: PbxStore, group_id: Any) -> dict[str, Any]:
    try:
        return store.groups[int(group_id)]
    except (KeyError, TypeError, ValueError):
        raise PbxFailure(60001) from None


def _members(store: PbxStore, members: Any) -> list[dict[str, Any]]:
    if not isinstance(members, list):
        raise invalid("members", members)
    checked = []
    for member in members:
        if not isinstance(member, dict) or member.get("user_type", "user") not in _USER_TYPES:
            raise invalid("members", member)
        try:
            ext_id = int(member["ext_id"])
        except (KeyError, TypeError, ValueError):
            raise invalid("members", member) from None
        if ext_id not in store.extensions:
            raise PbxFailure(60001, invalid_param_list=[{"field": "ext_id", "value": str(ext_id)}])
        checked.append({"ext_id": ext_id, "user_type": member.get("user_type", "user")})
    return checked


def _row(store: PbxStore, group: dict[str, Any]) -> dict[str, Any]:
    total = (len(store.extensions) if group["member_select"] == "sel_all_ext"
             else len(group["members"]))
    return {"id": group["id"], "name": group["name"], "member_select": group["member_select"],
            "total_extensions": total}


def _detail(group: dict[str, Any]) -> dict[str, Any]:
    return dict(group) | {"members": [dict(m) for m in group["members"]]}


def _check_name(store: PbxStore, name: Any, own_id: int | None) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 127:
        raise invalid("name", name)
    for other in store.groups.values():
        if other["id"] != own_id and other["name"] == name:
            raise PbxFailure(40003, duplicate_field_list=[
                {"field": "name", "value": name, "external_source": "extension_group",
                 "external_source_name": name}])


@endpoint("GET", "extensiongroup/list")
def list_groups(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    return page((_row(store, g) for g in store.groups.values()), params, sort_fields=("id", "name"))


@endpoint("GET", "extensiongroup/search")
def search_groups(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    needle = str(params.get("search_value", ""))
    rows = (_row(store, g) for g in store.groups.values())
    return page((r for r in rows if matches(r, needle, ("name",))), params,
                sort_fields=("id", "name"))


@endpoint("GET", "extensiongroup/get")
def get_group(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    return ok(data=_detail(_group(store, params.get("id"))))


@endpoint("GET", "extensiongroup/query")
def query_groups(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    return ok(data=[_detail(store.groups[i]) for i in ids(params) if i in store.groups])


@endpoint("POST", "extensiongroup/create")
def create_group(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    for name in ("name", "member_select"):
        if params.get(name) in (None, ""):
            raise required(name)
    _check_name(store, params["name"], None)
    if params["member_select"] not in _SELECT:
        raise invalid("member_select", params["member_select"])
    members: list[dict[str, Any]] = []
    if params["member_select"] == "sel_specific":
        if "members" not in params:
            raise required("members")
        members = _members(store, params["members"])
    if len(store.groups) >= store.max_groups:
        raise PbxFailure(60002)
    group_id = store.next_id("group")
    flags = {k: int(v) for k, v in params.items() if k.startswith("mgr_enb_")}
    store.groups[group_id] = {"id": group_id, "name": params["name"],
                              "member_select": params["member_select"], "members": members} | flags
    return ok()


@endpoint("POST", "extensiongroup/update")
def update_group(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("id") in (None, ""):
        raise required("id")
    group = _group(store, params["id"])
    if "name" in params:
        _check_name(store, params["name"], group["id"])
    select = params.get("member_select", group["member_select"])
    if select not in _SELECT:
        raise invalid("member_select", select)
    members = _members(store, params["members"]) if "members" in params else group["members"]
    group.update({"member_select": select, "members": members if select == "sel_specific" else []})
    if "name" in params:
        group["name"] = params["name"]
    group.update({k: int(v) for k, v in params.items() if k.startswith("mgr_enb_")})
    return ok()


@endpoint("GET", "extensiongroup/delete")
def delete_group(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    group = _group(store, params.get("id"))
    del store.groups[group["id"]]
    return ok()
