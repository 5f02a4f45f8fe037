"""`POST /graph/notifications` and `POST /graph/lifecycle`: validate, then hand over to workers.

Answered within Graph's 3 seconds with no Graph or PBX call: the validation handshake is
echoed, each item's `clientState` is compared in constant time with the one kept for its
subscription, and one Dramatiq message carries the accepted items of a batch. Unknown
subscriptions and wrong client states are dropped (202, counted, logged without secrets).

Graph batches up to hundreds of notifications a POST when many changes happen, so the work
per item is kept small: the collection is checked by a plain function rather than a schema
library (which cost about ten times as much per item), and each (subscription, clientState)
pair of a batch is looked up and compared once.

A presence item is handed over with the `user_id` it is about: `resourceData.id`. Since June
2024 Graph's basic presence notifications name the user there, and their `resource` is the
subscription's filter form, `communications/presences?$filter=id+in+(%27{id}%27)` (Microsoft 365
Developer Blog, "Breaking changes to Microsoft Graph presence and online meeting basic change
notifications"); only an item without `resourceData` falls back to the last id in `resource`
(the older `communications/presences/{id}`). A presence item that names no user is dropped.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
import unicodedata
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from core.errors import SealError
from core.subscriptions import SubscriptionStore, kind_of
from webhook.hardening import validation_handshake
from workers.broker import HANDLE_LIFECYCLE, NOTE_CHANGES, send

blueprint = Blueprint("graph", __name__)
log = logging.getLogger("webhook")
MAX_TOKEN = 1024
MAX_ITEMS = 1000
CHANGE_FIELDS = ("subscriptionId", "changeType", "resource")
LIFECYCLE_FIELDS = ("subscriptionId", "lifecycleEvent")
OPTIONAL_FIELDS = ("clientState", "id")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def collection_problem(body: Any, required: tuple[str, ...]) -> str | None:
    """What keeps `body` from being a notification collection whose items have `required`."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        return "the body must be an object with a 'value' array"
    items = body["value"]
    if not 1 <= len(items) <= MAX_ITEMS:
        return f"'value' must hold 1 to {MAX_ITEMS} notifications"
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            return f"value[{index}] must be an object"
        for name in required:
            if not isinstance(item.get(name), str):
                return f"value[{index}].{name} must be a string"
        for name in OPTIONAL_FIELDS:
            if item.get(name) is not None and not isinstance(item[name], str):
                return f"value[{index}].{name} must be a string or null"
        data = item.get("resourceData")
        if data is not None and not isinstance(data, dict):
            return f"value[{index}].resourceData must be an object or null"
        if data is not None and data.get("id") is not None and not isinstance(data["id"], str):
            return f"value[{index}].resourceData.id must be a string"
    return None


def presence_user(item: dict[str, Any]) -> str | None:
    """The user a presence notification is about: `resourceData.id`; without resourceData,
    the last id in `resource`."""
    data = item.get("resourceData")
    if data is not None:
        return data.get("id") or None
    found = GUID.findall(item["resource"])
    return found[-1] if found else None


class Accepted(Response):
    """202 with no content, and so no media type: Flask would label the empty body text/html.
    Graph reads only the status; every header an answer carries is work for both ends."""

    default_mimetype = None
    default_status = 202


def _validation_answer(token: str) -> tuple[Response | str, int, dict[str, str]]:
    if len(token) > MAX_TOKEN or any(unicodedata.category(c) == "Cc" for c in token):
        return jsonify(error="invalid validationToken"), 400, {}
    return token, 200, {"Content-Type": "text/plain; charset=utf-8"}


def _received(required: tuple[str, ...]) -> tuple[list[dict[str, Any]], Any]:
    """The items of a valid collection, or the answer instead: the validation handshake, or
    a 400 that says what is wrong."""
    req = request._get_current_object()  # bound once: each use of the proxy is a lookup
    if validation_handshake(req):
        return [], _validation_answer(req.args["validationToken"])
    body = req.get_json(silent=True)
    if body is None:
        return [], _refuse("the body must be JSON")
    problem = collection_problem(body, required)
    if problem is not None:
        return [], _refuse(f"not a notification collection: {problem}")
    return body["value"], None


def _refuse(message: str) -> Response:
    current_app.extensions["metrics"].notification("invalid")
    response = jsonify(error=message)
    response.status_code = 400
    return response


class ClientStates:
    """The opened client state of each known subscription, kept in memory for `ttl` seconds.

    A client state changes only when its subscription is re-created (with a new id), so a
    short cache spares a Redis read and a decryption per notification. Unknown ids are not
    cached: a subscription created a moment ago is found at once.
    """

    def __init__(self, store: SubscriptionStore, ttl: float = 60.0) -> None:
        self.store, self.ttl = store, ttl
        self.entries: dict[str, tuple[float, dict[str, Any], bytes | None]] = {}
        self.lock = threading.Lock()

    def get(self, subscription_id: str) -> tuple[dict[str, Any], bytes | None] | None:
        """The record and its opened client state (None when no key opens it), or None when
        the subscription is unknown."""
        now = time.monotonic()
        with self.lock:
            entry = self.entries.get(subscription_id)
        if entry is not None and entry[0] > now:
            return entry[1], entry[2]
        record = self.store.get(subscription_id)
        if record is None:
            return None
        try:  # an old key in SECRET_KEY_FALLBACKS opens it, and it is sealed again
            opened: bytes | None = self.store.open_client_state(record).encode()
        except SealError:
            opened = None  # sealed under a key this app no longer holds: dropped, never a 500
        with self.lock:
            self.entries[subscription_id] = (now + self.ttl, record, opened)
        return record, opened


class Trust:
    """Which items of one request come from a known subscription with its clientState.

    Each (subscription, clientState) pair is looked up and compared once per request;
    every dropped item is counted, and each dropped pair logged once, without secrets.
    """

    def __init__(self, extensions: dict[str, Any]) -> None:
        self.client_states = extensions["client_states"]
        self.metrics = extensions["metrics"]
        self.verdicts: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {}

    def record(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """The stored subscription of `item` if its clientState matches, else None (dropped)."""
        pair = (item["subscriptionId"], item.get("clientState") or "")
        verdict = self.verdicts.get(pair)
        if verdict is None:
            verdict = self.verdicts[pair] = self._judge(*pair)
        outcome, record = verdict
        if record is None:
            self.metrics.notification(outcome)
        return record

    def _judge(self, subscription_id: str, client_state: str) -> tuple[str, dict[str, Any] | None]:
        found = self.client_states.get(subscription_id)
        if found is None:
            log.warning("notification for an unknown subscription dropped",
                        extra={"subscription_id": subscription_id})
            return "unknown_subscription", None
        record, expected = found
        if expected is None:
            log.warning("notification dropped: its subscription's clientState cannot be opened "
                        "with SECRET_KEY (set SECRET_KEY_FALLBACKS to the old key)",
                        extra={"subscription_id": subscription_id})
            return "unreadable_client_state", None
        if not hmac.compare_digest(expected, client_state.encode()):
            log.warning("notification with a wrong clientState dropped",
                        extra={"subscription_id": subscription_id})
            return "bad_client_state", None
        return "accepted", record


def _change_id(item: dict[str, Any]) -> str:
    """Graph's notification id, or a fresh one when Graph gave none."""
    # Graph's user and group notifications often carry no id, and a second edit of the same
    # user sends the same body, so only Graph's own id can tell a redelivery from a new
    # change. Made here, not in the worker, so a redelivered message keeps its ids.
    return item.get("id") or f"local-{uuid.uuid4().hex}"


def _change(item: dict[str, Any], kind: str, extensions: dict[str, Any]) -> dict[str, Any] | None:
    """What the workers get of one trusted item; None for a presence item naming no user."""
    change = {"kind": kind, "id": _change_id(item), "change_type": item["changeType"],
              "resource": item["resource"]}
    if kind != "presence":
        return change
    user_id = presence_user(item)
    if user_id is None:
        extensions["metrics"].notification("no_user")
        log.warning("presence notification naming no user dropped",
                    extra={"subscription_id": item["subscriptionId"]})
        return None
    return change | {"user_id": user_id}


@blueprint.post("/graph/notifications")
def notifications() -> Any:
    items, answer = _received(CHANGE_FIELDS)
    if answer is not None:
        return answer
    extensions = current_app.extensions
    trust = Trust(extensions)
    accepted = [change for item in items if (record := trust.record(item)) is not None
                and (change := _change(item, kind_of(record), extensions)) is not None]
    if accepted:
        send(extensions["broker"], NOTE_CHANGES, accepted)
        extensions["metrics"].notification("accepted", len(accepted))
    return Accepted()


@blueprint.post("/graph/lifecycle")
def lifecycle() -> Any:
    items, answer = _received(LIFECYCLE_FIELDS)
    if answer is not None:
        return answer
    extensions = current_app.extensions
    trust = Trust(extensions)
    accepted = [{"subscriptionId": i["subscriptionId"], "lifecycleEvent": i["lifecycleEvent"]}
                for i in items if i["lifecycleEvent"] in LIFECYCLE_EVENTS and trust.record(i)]
    for item in accepted:
        extensions["metrics"].lifecycle.labels(item["lifecycleEvent"]).inc()
    if accepted:
        send(extensions["broker"], HANDLE_LIFECYCLE, accepted)
    return Accepted()
