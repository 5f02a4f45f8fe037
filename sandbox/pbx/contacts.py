"""`company_contact/*` and `phonebook/*`: company contacts and the phonebooks that hold them."""

from __future__ import annotations

from typing import Any

from sandbox.pbx.api import endpoint, ids, matches, ok, page
from sandbox.pbx.store import PbxFailure, PbxStore, invalid, required

NUM_TYPES = {
    "business_number": "business", "business_number2": "business2",
    "business_fax": "business_fax", "mobile_number": "mobile", "mobile_number2": "mobile2",
    "home_number": "home", "home_number2": "home2", "home_fax": "home_fax",
    "other_number": "other",
}
_TEXT_FIELDS = ("first_name", "last_name", "company", "email", "remark", "zip_code", "street",
                "city", "state", "country")
_CONTACT_SORT = ("id", "contact_name", "company", "email", "business", "mobile", "home",
                 "business_fax")


def _contact(store: PbxStore, contact_id: Any) -> dict[str, Any]:
    try:
        return store.contacts[int(contact_id)]
    except (KeyError, TypeError, ValueError):
        raise PbxFailure(60001) from None


def _phonebook(store: PbxStore, phonebook_id: Any) -> dict[str, Any]:
    try:
        return store.phonebooks[int(phonebook_id)]
    except (KeyError, TypeError, ValueError):
        raise PbxFailure(70093) from None


def _number_list(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise required("number_list")
    for item in value:
        if (not isinstance(item, dict) or item.get("num_type") not in NUM_TYPES
                or not isinstance(item.get("number"), str) or not item["number"]
                or len(item["number"]) > 31):
            raise invalid("number_list", item)
    return [{"num_type": i["num_type"], "number": i["number"]} for i in value]


def _phonebooks_of(store: PbxStore, contact_id: int) -> list[dict[str, Any]]:
    return [{"id": p["id"], "name": p["name"]} for p in store.phonebooks.values()
            if p["member_select"] == "sel_all" or contact_id in p["contacts"]]


def _row(store: PbxStore, contact: dict[str, Any]) -> dict[str, Any]:
    row = {"id": contact["id"], "company": contact["company"], "email": contact["email"],
           "remark": contact["remark"], "phonebook_list": _phonebooks_of(store, contact["id"]),
           "contact_name": " ".join(p for p in (contact["first_name"], contact["last_name"]) if p)}
    row |= {flat: "" for flat in NUM_TYPES.values()}
    for item in contact["number_list"]:
        row[NUM_TYPES[item["num_type"]]] = item["number"]
    return row


def _add_to_phonebooks(store: PbxStore, contact_id: int, phonebook_ids: Any) -> None:
    """`phonebook_id_list` of Add / Edit a Company Contact puts the contact in those phonebooks.

    Edit a Company Contact (…/developer-guide/edit-a-company-contact.html) does not say that
    the list replaces the contact's phonebooks, so a phonebook left out (or `[]`) keeps it:
    the documented removal is Edit a Phonebook's `del_contacts_id_list`.
    """
    if not isinstance(phonebook_ids, list):
        raise invalid("phonebook_id_list", phonebook_ids)
    for book in [_phonebook(store, pid) for pid in phonebook_ids]:
        book["contacts"].add(contact_id)


def _contact_ids(params: dict[str, Any], name: str) -> list[int]:
    """An Array<Integer> of contact IDs (Add / Edit a Phonebook)."""
    value = params.get(name, [])
    if not isinstance(value, list) or not all(
            isinstance(v, int) or (isinstance(v, str) and v.isdigit()) for v in value):
        raise invalid(name, value)
    return [int(v) for v in value]


@endpoint("GET", "company_contact/list")
def list_contacts(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    return page((_row(store, c) for c in store.contacts.values()), params,
                sort_fields=_CONTACT_SORT, default_page_size=10_000)


@endpoint("GET", "company_contact/search")
def search_contacts(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    needle = str(params.get("search_value", ""))
    rows = (_row(store, c) for c in store.contacts.values())
    return page((r for r in rows if matches(r, needle, ("contact_name", "company", "email",
                                                          "business", "mobile", "home"))),
                params, sort_fields=_CONTACT_SORT, default_page_size=10_000)


def _detail(store: PbxStore, contact: dict[str, Any]) -> dict[str, Any]:
    return dict(contact) | {"phonebook_list": _phonebooks_of(store, contact["id"]),
                            "number_list": [dict(n) for n in contact["number_list"]]}


@endpoint("GET", "company_contact/get")
def get_contact(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    return ok(data=_detail(store, _contact(store, params.get("id"))))


@endpoint("GET", "company_contact/query")
def query_contacts(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    return ok(data=[_detail(store, store.contacts[i]) for i in ids(params) if i in store.contacts])


@endpoint("POST", "company_contact/create")
def create_contact(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    if not params.get("first_name"):
        raise required("first_name")
    number_list = _number_list(params.get("number_list"))
    contact = {name: str(params.get(name, "")) for name in _TEXT_FIELDS}
    for name in ("first_name", "last_name", "company", "email"):
        if len(contact[name]) > 127:
            raise invalid(name, contact[name])
    for pid in params.get("phonebook_id_list", []):
        _phonebook(store, pid)
    contact_id = store.next_id("contact")
    store.contacts[contact_id] = contact | {"id": contact_id, "number_list": number_list}
    _add_to_phonebooks(store, contact_id, params.get("phonebook_id_list", []))
    return ok(id=contact_id)


@endpoint("POST", "company_contact/update")
def update_contact(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("id") in (None, ""):
        raise required("id")
    contact = _contact(store, params["id"])
    changes = {name: str(params[name]) for name in _TEXT_FIELDS if name in params}
    if "first_name" in changes and not changes["first_name"]:
        raise required("first_name")
    if "number_list" in params:
        changes["number_list"] = _number_list(params["number_list"])  # type: ignore[assignment]
    if "phonebook_id_list" in params:
        _add_to_phonebooks(store, contact["id"], params["phonebook_id_list"])
    contact.update(changes)
    return ok()


@endpoint("GET", "company_contact/delete")
def delete_contact(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    """Delete a Company Contact; one still selected in a phonebook answers 70091
    CONNECTION_RELATION_EXISTED (Error Code and Error Message). A `sel_all` phonebook holds
    every contact by definition and does not count."""
    contact = _contact(store, params.get("id"))
    if any(contact["id"] in p["contacts"] for p in store.phonebooks.values()
           if p["member_select"] == "sel_specific"):
        raise PbxFailure(70091)
    del store.contacts[contact["id"]]
    return ok()


def _book_row(store: PbxStore, book: dict[str, Any]) -> dict[str, Any]:
    total = len(store.contacts) if book["member_select"] == "sel_all" else len(book["contacts"])
    return {"id": book["id"], "name": book["name"], "total": total,
            "member_select": book["member_select"]}


@endpoint("GET", "phonebook/list")
def list_phonebooks(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    return page((_book_row(store, b) for b in store.phonebooks.values()), params,
                sort_fields=("id", "name", "total"))


@endpoint("GET", "phonebook/search")
def search_phonebooks(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    needle = str(params.get("search_value", ""))
    rows = (_book_row(store, b) for b in store.phonebooks.values())
    return page((r for r in rows if matches(r, needle, ("name",))), params,
                sort_fields=("id", "name", "total"))


@endpoint("GET", "phonebook/get")
def get_phonebook(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    book = _phonebook(store, params.get("id"))
    members = (store.contacts.values() if book["member_select"] == "sel_all"
               else (store.contacts[c] for c in sorted(book["contacts"]) if c in store.contacts))
    rows = [_row(store, c) for c in members]
    return ok(data={"id": book["id"], "name": book["name"], "member_select": book["member_select"],
                    "contacts_list": rows, "total": len(rows)})


def _check_book_name(store: PbxStore, name: Any, own_id: int | None) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 127:
        raise invalid("name", name)
    if any(b["name"] == name and b["id"] != own_id for b in store.phonebooks.values()):
        raise PbxFailure(40003, duplicate_field_list=[{"field": "name", "value": name}])


@endpoint("POST", "phonebook/create")
def create_phonebook(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    if not params.get("name"):
        raise required("name")
    _check_book_name(store, params["name"], None)
    select = params.get("member_select", "sel_specific")
    if select not in ("sel_all", "sel_specific"):
        raise invalid("member_select", select)
    if len(store.phonebooks) >= store.max_phonebooks:
        raise PbxFailure(60002)
    members = {_contact(store, c)["id"] for c in _contact_ids(params, "add_contacts_id_list")}
    book_id = store.next_id("phonebook")
    store.phonebooks[book_id] = {"id": book_id, "name": params["name"], "member_select": select,
                                 "contacts": members}
    return ok(id=book_id)


@endpoint("POST", "phonebook/update")
def update_phonebook(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("id") in (None, ""):
        raise required("id")
    book = _phonebook(store, params["id"])
    if "name" in params:
        _check_book_name(store, params["name"], book["id"])
    if params.get("member_select", "sel_all") not in ("sel_all", "sel_specific"):
        raise invalid("member_select", params["member_select"])
    # Edit a Phonebook (…/developer-guide/edit-a-phonebook.html): `add_contacts_id_list` and
    # `del_contacts_id_list`, Array<Integer>, add contacts to and remove them from it.
    added = {_contact(store, c)["id"] for c in _contact_ids(params, "add_contacts_id_list")}
    removed = set(_contact_ids(params, "del_contacts_id_list"))
    book["name"] = params.get("name", book["name"])
    book["member_select"] = params.get("member_select", book["member_select"])
    book["contacts"] = (book["contacts"] | added) - removed
    return ok()


@endpoint("GET", "phonebook/delete")
def delete_phonebook(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    book = _phonebook(store, params.get("id"))
    del store.phonebooks[book["id"]]
    return ok()
