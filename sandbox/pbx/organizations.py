"""Organization Management: `organization/list`, and the `organization_list` of extensions.

"Add an Extension" (…/developer-guide/add-an-extension.html) marks `organization_list`
(Array<Organization_Info>) "required if the Organization Management feature is enabled".
The feature is a PBX setting (PBX Settings > Preferences, …/administrator-guide/
enable-or-disable-organization-management.html) with no API: the simulator's switch is
`POST /_sandbox/config {"organization_management": true, "organizations": [paths]}`, a path
being "Root/Child" as the admin guide writes organizations in CSV files.
"""

from __future__ import annotations

from typing import Any

from sandbox.pbx.api import endpoint, integer, ok
from sandbox.pbx.store import PbxFailure, PbxStore, invalid, required

DEFAULT_ROOT = "Company"  # enabling asks for a company name, which becomes the root


def replace(store: PbxStore, paths: list[str]) -> None:
    """The organizations become `paths` ("Contoso", "Contoso/Sales", …), parents first."""
    store.organizations.clear()
    by_path: dict[str, int] = {}
    for path in paths:
        parent, _, name = path.rpartition("/")
        if not name or (parent and parent not in by_path):
            raise ValueError(f"organization {path!r} needs its parent listed before it")
        org_id = store.next_id("organization")
        store.organizations[org_id] = {"id": org_id, "name": name,
                                       "parent_id": by_path.get(parent, 0)}
        by_path[path] = org_id


def switch(store: PbxStore, on: bool) -> None:
    store.organization_management = bool(on)
    if store.organization_management and not store.organizations:
        replace(store, [DEFAULT_ROOT])


def check_extension(store: PbxStore, params: dict[str, Any], *, creating: bool) -> None:
    """The `organization_list` rule of Add / Edit an Extension, when the feature is on.

    The structure of Organization_Info is not in the documents; `[{"value": "<id>"}]`, the
    `value` = ID convention of Get Menu Options (`menu=org_list`), is the one accepted.
    Edit an Extension carries the same note, but its documented example
    (`{"id": 60, "presence_status": "off_work"}`) has no organization_list: it is required
    on create only.
    """
    if not store.organization_management:
        return
    value = params.get("organization_list")
    if value in (None, []):
        if creating:
            raise required("organization_list")
        return
    if not isinstance(value, list):
        raise invalid("organization_list", value)
    for item in value:
        try:
            known = isinstance(item, dict) and int(item["value"]) in store.organizations
        except (KeyError, TypeError, ValueError):
            known = False
        if not known:
            raise invalid("organization_list", item)


def _members(store: PbxStore, org_id: int) -> list[int]:
    return sorted(e["id"] for e in store.extensions.values()
                  if any(str(o.get("value")) == str(org_id)
                         for o in e.get("organization_list") or [] if isinstance(o, dict)))


def _tree(store: PbxStore, org: dict[str, Any], is_all: int, top: bool) -> dict[str, Any]:
    # Table 3 (Organization_List) types parent_id, order and ext_number as Integer, Table 4
    # (Sub_Organization) as String: both as the page says.
    text = (lambda v: v) if top else str
    members = _members(store, org["id"])
    node: dict[str, Any] = {"id": org["id"], "name": org["name"],
                            "parent_id": text(org["parent_id"]), "order": text(org["id"])}
    if is_all in (0, 1):
        node["ext_number"] = text(len(members))
    if is_all == 1:
        node["ext_list"] = members
    node["children"] = [_tree(store, child, is_all, False) for child in
                        sorted(store.organizations.values(), key=lambda o: o["id"])
                        if child["parent_id"] == org["id"]]
    return node


@endpoint("GET", "organization/list")
def list_organizations(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    """Query Organization List (…/developer-guide/query-organization-list.html)."""
    if not store.organization_management:
        # 70120 ORGANIZATION DISABLED (Error Code and Error Message); that this endpoint
        # answers it while the feature is off is inferred from its name.
        raise PbxFailure(70120)
    if params.get("sort_by", "id") != "id":
        raise invalid("sort_by", params["sort_by"])
    if params.get("order_by", "asc") not in ("asc", "desc"):
        raise invalid("order_by", params["order_by"])
    is_all = integer(params, "is_all", 0)
    if is_all not in (0, 1, 2):
        raise invalid("is_all", is_all)
    roots = sorted((o for o in store.organizations.values() if not o["parent_id"]),
                   key=lambda o: o["id"])
    return ok(organization_list=[_tree(store, root, is_all, True) for root in roots])
