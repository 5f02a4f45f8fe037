"""`/subscriptions`: create with the validation handshake, renew, reauthorize, list, delete."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import ipaddress
import re
import secrets
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from cryptography import x509
from flask import Blueprint, Response, current_app, jsonify, request

from sandbox.graph import auth
from sandbox.graph.auth import store_of
from sandbox.graph.notify import Notifier, public
from sandbox.graph.odata import GraphFailure, bad_request
from sandbox.graph.store import GraphStore

blueprint = Blueprint("subscriptions", __name__, url_prefix="/v1.0/subscriptions")
MAX_MINUTES = {"users": 41_760, "groups": 41_760, "contacts": 10_080, "presence": 60}
CHANGE_TYPES = {"users": {"updated", "deleted"}, "groups": {"updated", "deleted"},
                "contacts": {"created", "updated", "deleted"}, "presence": {"updated"}}
DIRECTORY_QUOTA = 100
VALIDATION_TIMEOUT = 10.0


def _classify(store: GraphStore, resource: str) -> tuple[str, Any]:
    path = resource.strip().lstrip("/")
    if match := re.fullmatch(r"(users|groups)(?:/([^/]+))?(/members)?", path, re.I):
        kind = match.group(1).lower()
        return kind, match.group(2)
    if match := re.fullmatch(r"(?:users|me)/([^/]+)/contacts", path, re.I):
        user = _mailbox_owner(store, match.group(1), resource)
        return "contacts", (user["id"], store.mailbox(user["id"]).default_folder)
    if match := re.fullmatch(r"users/([^/]+)/contactFolders/([^/]+)/contacts", path, re.I):
        user = _mailbox_owner(store, match.group(1), resource)
        return "contacts", (user["id"], match.group(2))
    if match := re.fullmatch(r"communications/presences/([0-9a-f-]{36})", path, re.I):
        return "presence", {match.group(1)}
    if match := re.fullmatch(r"communications/presences\?\$filter=id in \((.*)\)", path, re.I):
        ids = set(re.findall(r"'([0-9a-f-]{36})'", match.group(1)))
        if not ids or len(ids) > 650:
            raise bad_request("A presence subscription covers between 1 and 650 users.",
                              "InvalidRequest")
        return "presence", ids
    raise bad_request(f"Invalid resource '{resource}'.", "InvalidRequest")


def _mailbox_owner(store: GraphStore, key: str, resource: str) -> dict[str, Any]:
    """The user whose mailbox an Outlook resource names. A user without an Exchange Online
    mailbox cannot be subscribed to: Graph wraps Outlook's 404, as quoted in
    microsoftgraph/microsoft-graph-docs-contrib issue #5988 ("Operation: Create; Exception:
    [Status Code: NotFound; Reason: REST API is not yet supported for this mailbox.]")."""
    user = store.user(key)
    if user is None:
        raise bad_request(f"Invalid resource '{resource}'.", "InvalidRequest")
    if not store.has_mailbox(user):
        raise GraphFailure(404, "ExtensionError", "Operation: Create; Exception: [Status Code: "
                           "NotFound; Reason: REST API is not yet supported for this mailbox.]")
    return user


def _check_url(url: Any, name: str) -> str:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or not parts.hostname:
        raise bad_request(f"Invalid '{name}'.", "InvalidRequest")
    if parts.scheme == "https":
        return str(url)
    loopback = parts.hostname == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(parts.hostname).is_loopback
    if parts.scheme == "http" and loopback:  # the sandbox's one relaxation of real Graph
        return str(url)
    raise bad_request(f"The {name} must be an HTTPS URL.", "InvalidRequest")


def _validate_endpoint(url: str) -> None:
    """Graph's handshake: POST ?validationToken=..., expecting 200 text/plain echoing it."""
    token = f"Validation: Testing client application reachability for subscription " \
            f"Request-Id: {uuid.uuid4()}"
    separator = "&" if "?" in url else "?"
    session = requests.Session()
    session.trust_env = False
    try:
        response = session.post(f"{url}{separator}validationToken={quote(token)}",
                                headers={"Content-Type": "text/plain; charset=utf-8"},
                                timeout=VALIDATION_TIMEOUT)
        valid = (response.status_code == 200 and response.text == token
                 and response.headers.get("Content-Type", "").startswith("text/plain"))
    except requests.RequestException:
        valid = False
    finally:
        session.close()
    if not valid:
        raise bad_request("Subscription validation request failed. Notification endpoint must "
                          "respond with 200 OK to validation request.", "ValidationError")


def _expiry(store: GraphStore, value: Any, kind: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise bad_request("Invalid 'expirationDateTime'.", "InvalidRequest") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = store.clock.now()
    if when > now + dt.timedelta(minutes=MAX_MINUTES[kind], seconds=30):
        raise bad_request(f"Subscription expiration can only be {MAX_MINUTES[kind]} minutes in "
                          "the future.", "InvalidRequest")
    return max(when, now + dt.timedelta(minutes=min(45, MAX_MINUTES[kind])))


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _check_certificate(body: dict[str, Any]) -> None:
    """Presence: "Always specify the encryptionCertificate parameter ... to avoid failure"."""
    try:
        x509.load_der_x509_certificate(base64.b64decode(str(body["encryptionCertificate"]),
                                                        validate=True))
    except (KeyError, ValueError, binascii.Error):
        raise bad_request("A valid encryptionCertificate (base64 DER) is required for presence "
                          "subscriptions.", "InvalidRequest") from None
    if not body.get("encryptionCertificateId"):
        raise bad_request("encryptionCertificateId is required with encryptionCertificate.",
                          "InvalidRequest")


def _one_presence_per_account(store: GraphStore, kind: str, token: dict[str, Any]) -> None:
    """"A single user can create one presence subscription per unique application"."""
    if kind == "presence" and any(
            s["_kind"] == "presence" and s["creatorId"] == token.get("user_id")
            and s["applicationId"] == token["client_id"] for s in store.subscriptions.values()):
        raise GraphFailure(409, "ExtensionError", "A user can have one presence subscription "
                           "per application.")


def _delegated_only(token: dict[str, Any], operation: str) -> None:
    """Presence subscriptions are made, renewed and deleted with delegated tokens only."""
    if token["kind"] != "delegated":
        raise GraphFailure(403, "ExtensionError", f"Operation: {operation}; Exception: [Status "
                           "Code: Forbidden; Reason: Application permissions are not supported "
                           "for presence subscriptions.]")


def _may_manage(token: dict[str, Any], kind: str, operation: str) -> None:
    """Creating, renewing, reauthorizing, reading or deleting a subscription needs the read
    permission of its resource (auth.SUBSCRIBE), as Graph's Create subscription page lists;
    the refusal is the wrapped 403 quoted in microsoftgraph/msgraph-sdk-dotnet issue #365."""
    if kind == "presence":
        _delegated_only(token, operation)
    if not auth.permitted(token, auth.SUBSCRIBE[kind]):
        raise GraphFailure(403, "ExtensionError", f"Operation: {operation}; Exception: [Status "
                           "Code: Forbidden; Reason: Forbidden]")


def _subscription(store: GraphStore, sub_id: str) -> dict[str, Any]:
    sub = store.subscriptions.get(sub_id)
    if sub is None:
        raise GraphFailure(404, "ResourceNotFound", f"The object was not found: '{sub_id}'.")
    return sub


@blueprint.post("")
def create() -> tuple[Response, int]:
    store = store_of()
    token = auth.authorize()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("A JSON object body is required.", "InvalidRequest")
    for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
        if not body.get(name):
            raise bad_request(f"The '{name}' property is required.", "InvalidRequest")
    kind, scope = _classify(store, body["resource"])
    _may_manage(token, kind, "Create")
    if kind == "presence":
        _check_certificate(body)
    types = [t.strip() for t in str(body["changeType"]).split(",")]
    for change_type in types:
        if change_type not in CHANGE_TYPES[kind]:
            raise bad_request(f"Invalid 'changeType' attribute: '{change_type}'.",
                              "InvalidRequest")
    if len(str(body.get("clientState") or "")) > 128:
        raise bad_request("'clientState' is longer than 128 characters.", "InvalidRequest")
    notification_url = _check_url(body["notificationUrl"], "notificationUrl")
    lifecycle_url = (_check_url(body["lifecycleNotificationUrl"], "lifecycleNotificationUrl")
                     if body.get("lifecycleNotificationUrl") else None)
    expires = _expiry(store, body["expirationDateTime"], kind)
    with store.lock:
        for other in store.subscriptions.values():
            if other["resource"] == body["resource"] and other["changeType"] == ",".join(types):
                raise GraphFailure(409, "ExtensionError", f"Subscription Id {other['id']} "
                                   "already exists for the requested combination")
        _one_presence_per_account(store, kind, token)
        directory = [s for s in store.subscriptions.values() if s["_kind"] in ("users", "groups")]
        if kind in ("users", "groups") and len(directory) >= DIRECTORY_QUOTA:
            raise GraphFailure(403, "ExtensionError", "Subscription quota exceeded: at most "
                               f"{DIRECTORY_QUOTA} directory subscriptions per app and tenant.")
    _validate_endpoint(notification_url)
    if lifecycle_url:
        _validate_endpoint(lifecycle_url)
    sub = {"id": str(uuid.uuid4()), "resource": body["resource"],
           "applicationId": token["client_id"], "changeType": ",".join(types),
           "clientState": body.get("clientState"), "notificationUrl": notification_url,
           "lifecycleNotificationUrl": lifecycle_url, "expirationDateTime": _iso(expires),
           "creatorId": token.get("user_id") or secrets.token_hex(8),
           "includeResourceData": bool(body.get("includeResourceData", False)),
           "latestSupportedTlsVersion": body.get("latestSupportedTlsVersion", "v1_2"),
           "encryptionCertificate": body.get("encryptionCertificate"),
           "encryptionCertificateId": body.get("encryptionCertificateId"),
           "notificationUrlAppId": None, "notificationQueryOptions": None,
           "_kind": kind, "_scope": scope, "_expires": expires.timestamp(),
           "_authorized_at": store.clock.time()}
    with store.lock:  # a create that overlapped ours may have won meanwhile: still one per pair
        _one_presence_per_account(store, kind, token)
        for other in store.subscriptions.values():
            if other["resource"] == sub["resource"] and other["changeType"] == sub["changeType"]:
                raise GraphFailure(409, "ExtensionError", f"Subscription Id {other['id']} "
                                   "already exists for the requested combination")
        store.subscriptions[sub["id"]] = sub
    return jsonify({"@odata.context": f"{request.host_url}v1.0/$metadata#subscriptions/$entity"}
                   | public(sub)), 201


@blueprint.get("")
def list_subscriptions() -> Response:
    store = store_of()
    auth.authorize()
    with store.lock:
        rows = [public(s) for s in store.subscriptions.values()]
    return jsonify({"@odata.context": f"{request.host_url}v1.0/$metadata#subscriptions",
                    "value": rows})


@blueprint.get("/<sub_id>")
def get(sub_id: str) -> Response:
    store = store_of()
    token = auth.authorize()
    with store.lock:
        sub = _subscription(store, sub_id)
        _may_manage(token, sub["_kind"], "Get")
        return jsonify(public(sub))


@blueprint.patch("/<sub_id>")
def renew(sub_id: str) -> Response:
    store = store_of()
    token = auth.authorize()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("A JSON object body is required.", "InvalidRequest")
    with store.lock:
        sub = _subscription(store, sub_id)
    _may_manage(token, sub["_kind"], "Update")
    if "notificationUrl" in body:
        url = _check_url(body["notificationUrl"], "notificationUrl")
        _validate_endpoint(url)
        sub["notificationUrl"] = url
    if "expirationDateTime" in body:
        expires = _expiry(store, body["expirationDateTime"], sub["_kind"])
        sub.update(expirationDateTime=_iso(expires), _expires=expires.timestamp(),
                   _authorized_at=store.clock.time())
    return jsonify(public(sub))


@blueprint.post("/<sub_id>/reauthorize")
def reauthorize(sub_id: str) -> tuple[str, int]:
    store = store_of()
    token = auth.authorize()
    with store.lock:
        sub = _subscription(store, sub_id)
        _may_manage(token, sub["_kind"], "Reauthorize")
        sub["_authorized_at"] = store.clock.time()
    return "", 200


@blueprint.delete("/<sub_id>")
def delete(sub_id: str) -> tuple[str, int]:
    store = store_of()
    token = auth.authorize()
    with store.lock:
        _may_manage(token, _subscription(store, sub_id)["_kind"], "Delete")
        del store.subscriptions[sub_id]
    return "", 204


@blueprint.errorhandler(GraphFailure)
def _failure(failure: GraphFailure) -> Response:
    return failure.response()


def notifier_of() -> Notifier:
    return current_app.extensions["graph_notifier"]
