"""Outlook contacts and contact folders of users and shared mailboxes, with per-folder delta."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request

from sandbox.graph import auth
from sandbox.graph.auth import store_of
from sandbox.graph.odata import (
    GraphFailure,
    bad_request,
    parse_select,
    project,
    without_annotations,
)
from sandbox.graph.paging import context_url, delta_page
from sandbox.graph.store import CONTACT_PROPERTIES, GraphStore, Mailbox

blueprint = Blueprint("mail", __name__, url_prefix="/v1.0/users/<key>")
_WRITABLE = set(CONTACT_PROPERTIES) - {"id", "parentFolderId", "changeKey", "createdDateTime",
                                        "lastModifiedDateTime"}
_DEFAULTS = {"displayName": None, "givenName": None, "surname": None, "middleName": None,
             "mobilePhone": None, "homePhones": [], "businessPhones": [], "emailAddresses": [],
             "companyName": None, "jobTitle": None, "department": None, "categories": []}


def _mailbox(store: GraphStore, key: str) -> tuple[str, Mailbox]:
    user = store.user(key)
    if user is None:
        raise GraphFailure(404, "ErrorInvalidUser",
                           f"The requested user '{key}' is invalid.")
    if not store.has_mailbox(user):
        raise no_mailbox()
    return user["id"], store.mailbox(user["id"])


def no_mailbox() -> GraphFailure:
    """What Outlook's REST endpoints answer for a user without an Exchange Online mailbox:
    "REST API is not yet supported for this mailbox" error for request to a mailbox
    (https://learn.microsoft.com/en-us/exchange/troubleshoot/user-and-shared-mailboxes/rest-api-is-not-yet-supported-for-this-mailbox-error);
    404 `MailboxNotEnabledForRESTAPI`, as quoted for mailboxSettings in
    microsoftgraph/microsoft-graph-docs-contrib issue #6519 and for guests in issue #405."""
    return GraphFailure(404, "MailboxNotEnabledForRESTAPI",
                        "REST API is not yet supported for this mailbox.")


def _item_not_found() -> GraphFailure:
    return GraphFailure(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def _outlook_page(rows: list[dict[str, Any]], context: str) -> dict[str, Any]:
    """Outlook collections page with `$top` (default 10, at most 1000) and `$skip`."""
    top = int(request.args.get("$top", 10))
    skip = int(request.args.get("$skip", 0))
    if not 1 <= top <= 1000:
        raise bad_request("The value of $top must be between 1 and 1000.", "ErrorInvalidUrlQuery")
    select = parse_select(request.args.get("$select"), "contact", CONTACT_PROPERTIES)
    chunk = rows[skip : skip + top]
    body: dict[str, Any] = {"@odata.context": context_url(context),
                            "value": [project(r, select, CONTACT_PROPERTIES) for r in chunk]}
    if skip + top < len(rows):
        args = {k: v for k, v in request.args.items() if k != "$skip"} | {"$skip": skip + top}
        body["@odata.nextLink"] = f"{request.base_url}?{urlencode(args)}"
    return body


@blueprint.get("/mailboxSettings")
def mailbox_settings(key: str) -> Response:
    store = store_of()
    auth.authorize(*auth.MAILBOX_READ, denied=auth.EXCHANGE)
    with store.lock:
        user_id, _ = _mailbox(store, key)
        settings = store.mailbox_settings.get(user_id, {"userPurpose": "user"})
        return jsonify({"@odata.context": context_url(f"users('{user_id}')/mailboxSettings"),
                        "timeZone": "UTC", "userPurpose": "user"} | settings)


@blueprint.get("/contactFolders")
def folders(key: str) -> Response:
    store = store_of()
    auth.authorize(*auth.CONTACTS_READ, denied=auth.EXCHANGE)
    with store.lock:
        user_id, box = _mailbox(store, key)
        return jsonify({"@odata.context": context_url(f"users('{user_id}')/contactFolders"),
                        "value": sorted(box.folders.values(), key=lambda f: f["id"])})


@blueprint.get("/contacts")
@blueprint.get("/contactFolders/<folder_id>/contacts")
def contacts(key: str, folder_id: str | None = None) -> Response:
    store = store_of()
    auth.authorize(*auth.CONTACTS_READ, denied=auth.EXCHANGE)
    with store.lock:
        user_id, box = _mailbox(store, key)
        tracked = box.contacts.get(folder_id or box.default_folder)
        if tracked is None:
            raise _item_not_found()
        rows = sorted(tracked.items.values(), key=lambda c: c["id"])
        return jsonify(_outlook_page(rows, f"users('{user_id}')/contacts"))


@blueprint.get("/contactFolders/<folder_id>/contacts/delta")
@blueprint.get("/contactFolders/<folder_id>/contacts/delta()")  # the OData function form
@blueprint.get("/contactFolders/<folder_id>/contacts/microsoft.graph.delta")
@blueprint.get("/contactFolders/<folder_id>/contacts/microsoft.graph.delta()")
def contacts_delta(key: str, folder_id: str) -> Response:
    store = store_of()
    auth.authorize(*auth.CONTACTS_READ, denied=auth.EXCHANGE)
    with store.lock:
        user_id, box = _mailbox(store, key)
        tracked = box.contacts.get(folder_id)
        if tracked is None:
            raise _item_not_found()
        return jsonify(delta_page(store, tracked, entity="contact", properties=CONTACT_PROPERTIES,
                                  represent=lambda c, s, _since: project(c, s, CONTACT_PROPERTIES),
                                  context=f"users('{user_id}')/contactFolders('{folder_id}')"
                                  "/contacts"))


@blueprint.get("/contacts/<contact_id>")
def get_contact(key: str, contact_id: str) -> Response:
    store = store_of()
    auth.authorize(*auth.CONTACTS_READ, denied=auth.EXCHANGE)
    with store.lock:
        user_id, _ = _mailbox(store, key)
        found = store.find_contact(user_id, contact_id)
        if found is None:
            raise _item_not_found()
        return jsonify(project(found[1], None, CONTACT_PROPERTIES))


def _contact_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("A JSON object body is required.", "ErrorInvalidRequest")
    body = without_annotations(body, "contact")  # the Graph SDKs send @odata.type
    unknown = sorted(set(body) - _WRITABLE)
    if unknown:
        raise bad_request(f"The property '{unknown[0]}' does not exist on type "
                          "'Microsoft.OutlookServices.Contact'.", "RequestBodyRead")
    return body


@blueprint.post("/contacts")
@blueprint.post("/contactFolders/<folder_id>/contacts")
def create_contact(key: str, folder_id: str | None = None) -> tuple[Response, int]:
    store = store_of()
    auth.authorize(*auth.CONTACTS_WRITE, denied=auth.EXCHANGE)
    body = _contact_body()
    with store.lock:
        user_id, box = _mailbox(store, key)
        folder = folder_id or box.default_folder
        if folder not in box.contacts:
            raise _item_not_found()
        contact = store.put_contact(user_id, folder, dict(_DEFAULTS) | body, "created")
        return jsonify(project(contact, None, CONTACT_PROPERTIES)), 201


@blueprint.patch("/contacts/<contact_id>")
def update_contact(key: str, contact_id: str) -> Response:
    store = store_of()
    auth.authorize(*auth.CONTACTS_WRITE, denied=auth.EXCHANGE)
    body = _contact_body()
    with store.lock:
        user_id, _ = _mailbox(store, key)
        found = store.find_contact(user_id, contact_id)
        if found is None:
            raise _item_not_found()
        contact = store.put_contact(user_id, found[0], found[1] | body, "updated")
        return jsonify(project(contact, None, CONTACT_PROPERTIES))


@blueprint.delete("/contacts/<contact_id>")
def delete_contact(key: str, contact_id: str) -> tuple[str, int]:
    store = store_of()
    auth.authorize(*auth.CONTACTS_WRITE, denied=auth.EXCHANGE)
    with store.lock:
        user_id, _ = _mailbox(store, key)
        found = store.find_contact(user_id, contact_id)
        if found is None:
            raise _item_not_found()
        store.delete_contact(user_id, found[0], contact_id)
    return "", 204


@blueprint.errorhandler(GraphFailure)
def _failure(failure: GraphFailure) -> Response:
    return failure.response()
