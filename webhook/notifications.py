"""`POST /graph/notifications` and `POST /graph/lifecycle`: validate, then hand over to workers.

Answered within Graph's 3 seconds with no Graph or PBX call: the validation handshake is
echoed, each item's `clientState` is compared in constant time with the one kept for its
subscription, and one Dramatiq message carries the accepted items of a batch. Unknown
subscriptions and wrong client states are dropped (202, counted, logged without secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import unicodedata
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from core.subscriptions import SubscriptionStore, kind_of
from workers.broker import HANDLE_LIFECYCLE, NOTE_CHANGES, send

blueprint = Blueprint("graph", __name__)
log = logging.getLogger("webhook")
MAX_TOKEN = 1024
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


class _Item(Schema):
    class Meta:
        unknown = INCLUDE

    subscriptionId = fields.String(required=True)
    clientState = fields.String(allow_none=True, load_default=None)


class _Change(_Item):
    changeType = fields.String(required=True)
    resource = fields.String(required=True)
    id = fields.String(allow_none=True, load_default=None)


class _Lifecycle(_Item):
    lifecycleEvent = fields.String(required=True)


def _collection(item: type[Schema]) -> Schema:
    class Collection(Schema):
        class Meta:
            unknown = INCLUDE

        value = fields.List(fields.Nested(item), required=True,
                            validate=validate.Length(min=1, max=1000))

    return Collection()


_CHANGES, _LIFECYCLES = _collection(_Change), _collection(_Lifecycle)


def _validation_answer(token: str) -> tuple[Response | str, int, dict[str, str]]:
    if len(token) > MAX_TOKEN or any(unicodedata.category(c) == "Cc" for c in token):
        return jsonify(error="invalid validationToken"), 400, {}
    return token, 200, {"Content-Type": "text/plain; charset=utf-8"}


def _load(schema: Schema) -> tuple[list[dict[str, Any]] | None, Response | None]:
    body = request.get_json(silent=True)
    if body is None:
        return None, _refuse("the body must be JSON")
    try:
        return schema.load(body)["value"], None
    except ValidationError as exc:
        return None, _refuse(f"not a notification collection: {json.dumps(exc.messages)[:500]}")


def _refuse(message: str) -> Response:
    current_app.extensions["metrics"].notifications.labels("invalid").inc()
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
        self.entries: dict[str, tuple[float, dict[str, Any], bytes]] = {}
        self.lock = threading.Lock()

    def get(self, subscription_id: str) -> tuple[dict[str, Any], bytes] | None:
        now = time.monotonic()
        with self.lock:
            entry = self.entries.get(subscription_id)
        if entry is not None and entry[0] > now:
            return entry[1], entry[2]
        record = self.store.get(subscription_id)
        if record is None:
            return None
        opened = self.store.box.open(record["client_state"]).encode()
        with self.lock:
            self.entries[subscription_id] = (now + self.ttl, record, opened)
        return record, opened


def _trusted(item: dict[str, Any]) -> dict[str, Any] | None:
    """The stored subscription of an item whose clientState matches, else None (dropped)."""
    metrics = current_app.extensions["metrics"]
    found = current_app.extensions["client_states"].get(item["subscriptionId"])
    if found is None:
        metrics.notifications.labels("unknown_subscription").inc()
        log.warning("notification for an unknown subscription dropped",
                    extra={"subscription_id": item["subscriptionId"]})
        return None
    record, expected = found
    if not hmac.compare_digest(expected, (item.get("clientState") or "").encode()):
        metrics.notifications.labels("bad_client_state").inc()
        log.warning("notification with a wrong clientState dropped",
                    extra={"subscription_id": item["subscriptionId"]})
        return None
    return record


@blueprint.post("/graph/notifications")
def notifications() -> Any:
    if "validationToken" in request.args:
        return _validation_answer(request.args["validationToken"])
    items, refusal = _load(_CHANGES)
    if refusal is not None:
        return refusal
    accepted = []
    for item in items or []:
        record = _trusted(item)
        if record is None:
            continue
        change_id = item.get("id") or hashlib.sha256(
            json.dumps(item, sort_keys=True).encode()).hexdigest()
        accepted.append({"kind": kind_of(record), "id": change_id,
                         "change_type": item["changeType"], "resource": item["resource"]})
    if accepted:
        send(current_app.extensions["broker"], NOTE_CHANGES, accepted)
        current_app.extensions["metrics"].notifications.labels("accepted").inc(len(accepted))
    return "", 202


@blueprint.post("/graph/lifecycle")
def lifecycle() -> Any:
    if "validationToken" in request.args:
        return _validation_answer(request.args["validationToken"])
    items, refusal = _load(_LIFECYCLES)
    if refusal is not None:
        return refusal
    accepted = [{"subscriptionId": i["subscriptionId"], "lifecycleEvent": i["lifecycleEvent"]}
                for i in items or [] if i["lifecycleEvent"] in LIFECYCLE_EVENTS and _trusted(i)]
    for item in accepted:
        current_app.extensions["metrics"].lifecycle.labels(item["lifecycleEvent"]).inc()
    if accepted:
        send(current_app.extensions["broker"], HANDLE_LIFECYCLE, accepted)
    return "", 202
