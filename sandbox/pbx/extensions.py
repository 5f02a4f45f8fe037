"""`extension/*`: SIP extensions with the documented field rules, uniqueness and capacity."""

from __future__ import annotations

import itertools
import re
from typing import Any

from sandbox.pbx import organizations
from sandbox.pbx.api import endpoint, ids, matches, ok, page
from sandbox.pbx.store import PRESENCE_VALUES, PbxFailure, PbxStore, invalid, required

REQUIRED_ON_CREATE = ("type", "number", "user_password", "reg_name", "reg_password",
                      "concurrent_registrations", "presence_status")
# Mobile number and caller ID: "Numbers, letters, and characters ( ) . - + * # are allowed. The
# maximum character length is 31." (Extension Parameters, …/administrator-guide/
# import-and-export-parameters-extension.html; the same for caller_id on Add an Extension).
# No space: a number outside the set is refused with 40002 PARAMETER ERROR naming the field.
_PHONE = re.compile(r"^[0-9A-Za-z()+.\-*#]{0,31}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EDITABLE = ("number", "first_name", "last_name", "email_addr", "mobile_number", "user_password",
             "role_id", "organization_list", "title", "email_language", "user_lang", "vm_lang",
             "caller_id", "reg_name", "reg_password", "concurrent_registrations",
             "presence_status", "presence_list", "presence_mobile_prefix", "agent_id")


def _check_value(name: str, value: Any) -> None:
    text = value if isinstance(value, str) else None
    if name == "type" and value != "SIP":
        raise invalid(name, value)
    if name == "number" and not (text and text.isdigit() and len(text) <= 7):
        raise invalid(name, value)
    if name == "user_password" and not (
        text and 10 <= len(text) <= 63 and re.search(r"\d", text) and re.search(r"[a-z]", text)
        and re.search(r"[A-Z]", text)
    ):
        raise invalid(name, "******")
    if name == "reg_password" and not (text and 8 <= len(text) <= 63):
        raise invalid(name, "******")
    if name == "reg_name" and not (text and len(text) <= 63):
        raise invalid(name, value)
    if name in ("first_name", "last_name") and not (isinstance(value, str) and len(value) <= 63):
        raise invalid(name, value)
    if name == "email_addr" and not (
        isinstance(value, str) and (value == "" or (_EMAIL.fullmatch(value) and len(value) <= 255))
    ):
        raise invalid(name, value)
    if name in ("mobile_number", "caller_id") and not (isinstance(value, str) and _PHONE.fullmatch(value)):
        raise invalid(name, value)
    if name == "concurrent_registrations" and value not in (1, 2, 3):
        raise invalid(name, value)
    if name == "presence_status" and value not in PRESENCE_VALUES:
        raise invalid(name, value)
    if name == "title" and not (isinstance(value, str) and len(value) <= 127):
        raise invalid(name, value)


# `user_password` (Add an Extension, contracts/yeastar.md §6.3): digits, upper and lower case,
# 10-63 characters on every edition (in _check_value); Cloud Edition adds "no 4 consecutive
# digits, no 4 same digits, no ext number / first / last name", read as a run counting up or
# down by one (1234, 9876), one digit four times (7777), and containment in any letter case.
# What the PBX answers to a refused password is not documented: the documented generic
# answer, 40002 PARAMETER ERROR naming the field, is given, with the value masked.
def _check_cloud_password(store: PbxStore, ext: dict[str, Any]) -> None:
    """The Cloud Edition's further rules, on the extension as it would be after the write."""
    password = str(ext["user_password"])
    runs = (password[i : i + 4] for i in range(len(password) - 3))
    steps = ({int(b) - int(a) for a, b in itertools.pairwise(run)}
             for run in runs if run.isascii() and run.isdigit())
    names = (ext.get("number"), ext.get("first_name"), ext.get("last_name"))
    if store.edition == "cloud" and (
        any(found in ({1}, {-1}, {0}) for found in steps)
        or any(name and str(name).strip() and str(name).strip().lower() in password.lower()
               for name in names)
    ):
        raise invalid("user_password", "******")


def _check_unique(store: PbxStore, fields: dict[str, Any], own_id: int | None) -> None:
    duplicates = []
    table = store.extensions
    number_holder = table.by_number.get(fields.get("number", ""))
    if number_holder is not None and number_holder != own_id:
        duplicates.append({"field": "number", "value": fields["number"],
                           "external_source": "extension",
                           "external_source_name": table[number_holder]["number"]})
    email = fields.get("email_addr") or ""
    email_holder = table.by_email.get(email.lower()) if email else None
    if email_holder is not None and email_holder != own_id:
        duplicates.append({"field": "email_addr", "value": email, "external_source": "extension",
                           "external_source_name": table[email_holder]["number"]})
    if duplicates:
        verb = "update" if own_id else "create"
        raise PbxFailure(40003, submsg=f"Extension {verb} fail for duplicate fields",
                         duplicate_field_list=duplicates)


def _caller_id_name(ext: dict[str, Any]) -> str:
    return " ".join(part for part in (ext["first_name"], ext["last_name"]) if part)


def basic(ext: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ext["id"], "number": ext["number"], "caller_id_name": _caller_id_name(ext),
        "email_addr": ext["email_addr"], "mobile_number": ext["mobile_number"],
        "role_name": "", "presence_status": ext["presence_status"], "custom_presence_status": "",
        "online_status": {k: {"status": 0, "ext_dev_type": k}
                          for k in ("sip_phone", "linkus_desktop", "linkus_mobile", "linkus_web")},
    }


def detail(ext: dict[str, Any]) -> dict[str, Any]:
    hidden = {"user_password", "reg_password"}
    return {k: v for k, v in ext.items() if k not in hidden} | {
        "caller_id_name": _caller_id_name(ext)}


@endpoint("GET", "extension/list")
def list_extensions(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    return page((basic(e) for e in store.extensions.values()), params, sort_fields=_SORT)


@endpoint("GET", "extension/search")
def search_extensions(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    needle = str(params.get("search_value", ""))
    rows = (basic(e) for e in store.extensions.values())
    return page((r for r in rows if matches(r, needle, ("number", "caller_id_name", "email_addr"))),
                params, sort_fields=_SORT)


_SORT = ("id", "number", "caller_id_name", "email_addr", "mobile_number", "presence_status")


@endpoint("GET", "extension/get")
def get_extension(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    return ok(data=detail(store.extension(params.get("id"))))


@endpoint("GET", "extension/query")
def query_extensions(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    return ok(data=[detail(store.extensions[i]) for i in ids(params) if i in store.extensions])


@endpoint("POST", "extension/create")
def create_extension(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    for name in REQUIRED_ON_CREATE:
        if params.get(name) in (None, ""):
            raise required(name)
    fields = {k: params[k] for k in _EDITABLE if k in params} | {"type": params["type"]}
    for name, value in fields.items():
        _check_value(name, value)
    organizations.check_extension(store, params, creating=True)
    _check_cloud_password(store, fields)
    _check_unique(store, fields, None)
    if len(store.extensions) >= store.capacity:
        raise PbxFailure(60002, invalid_param_list=[{"field": "extension", "value": "capacity"}])
    ext_id = store.next_id("extension")
    ext = {"id": ext_id, "first_name": "", "last_name": "", "email_addr": "", "mobile_number": "",
           "title": "", "role_id": 0, "organization_list": [], "email_language": "follow_system",
           "user_lang": "follow_system", "caller_id": "", "presence_list": []} | fields
    if not ext["first_name"] and not ext["last_name"]:
        ext["first_name"] = ext["number"]
    store.extensions[ext_id] = ext
    return ok()  # the documents do not say that an id is returned; the worst case is assumed


# "Edit an Extension" (…/developer-guide/edit-an-extension.html) lists `id` and the editable
# fields; `number` and `type` of "Add an Extension" are not among them. What a PBX answers to
# a parameter it does not take is not documented: the documented generic answer, 40002
# PARAMETER ERROR naming the field, is given, and nothing of the edit is applied.
_NOT_EDITABLE = ("number", "type")


@endpoint("POST", "extension/update")
def update_extension(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("id") in (None, ""):
        raise required("id")
    ext = store.extension(params["id"])
    for name in _NOT_EDITABLE:
        if name in params:
            raise invalid(name, params[name])
    fields = {k: params[k] for k in _EDITABLE if k in params}
    for name, value in fields.items():
        _check_value(name, value)
    organizations.check_extension(store, params, creating=False)
    if "user_password" in fields:
        _check_cloud_password(store, ext | fields)
    _check_unique(store, fields, ext["id"])
    store.extensions.change(ext["id"], fields)
    return ok()


@endpoint("GET", "extension/delete")
def delete_extension(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    ext = store.extension(params.get("id"))
    del store.extensions[ext["id"]]
    for group in store.groups.values():
        group["members"] = [m for m in group["members"] if m["ext_id"] != ext["id"]]
    return ok()


@endpoint("POST", "extension/send_welcome_email")
def send_welcome_email(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    id_list = params.get("id_list")
    if not isinstance(id_list, list) or not id_list:
        raise required("id_list")
    for ext_id in id_list:
        store.extension(ext_id)
    store.welcome_emails.extend(int(i) for i in id_list)
    return ok()
