"""Graph change-notification subscriptions for users, groups and mailboxes' contacts: create,
renew, re-create, delete.

Each subscription has its own random `clientState`, kept sealed in Redis; the webhook compares
it in constant time. Directory subscriptions live at most 41,760 minutes; they are renewed
when less than a week is left, and re-created when Graph no longer has them: the upkeep is in
core/subscription_upkeep.py; what went wrong keeping a resource's subscription is kept here
(`Keys.subscription_problems`) and shown with it in status until it goes right.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from core.errors import GraphError, SealError
from core.graph.client import GraphClient
from core.secret_box import SecretBox
from core.store.redis import StateStore
from core.store.swap import swap_field

RESOURCES = (("users", "updated,deleted"), ("groups", "updated,deleted"))
CONTACT_CHANGES = "created,updated,deleted"
LIFETIME = dt.timedelta(minutes=41_760 - 60)  # directory objects: just under 29 days
CONTACT_LIFETIME = dt.timedelta(minutes=10_080 - 60)  # Outlook contacts: just under 7 days
RENEW_WHEN_LEFT = dt.timedelta(days=7)
# "Don't issue a reauthorize request and an update request for the same subscription within a
# 10-minute window" (contracts §1.5): a challenge soon after one was answered changes nothing
REAUTHORIZE_GAP = dt.timedelta(minutes=10)
CONTACT_RENEW_WHEN_LEFT = dt.timedelta(days=2)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SubscriptionStore:
    def __init__(self, state: StateStore, box: SecretBox) -> None:
        self.redis, self.key, self.box = state.redis, state.keys.subscriptions(), box
        self.problems_key = state.keys.subscription_problems()

    def all(self) -> dict[str, dict[str, Any]]:
        return {_text(k): json.loads(v) for k, v in self.redis.hgetall(self.key).items()}

    def get(self, subscription_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.key, subscription_id)
        return json.loads(raw) if raw else None

    def client_state(self, subscription_id: str) -> str | None:
        record = self.get(subscription_id)
        return self.open_client_state(record) if record else None

    def open_client_state(self, record: dict[str, Any]) -> str:
        """`record`'s client state (SealError when no key opens it); one sealed under an older
        key is sealed again under SECRET_KEY, unless the record changed meanwhile."""
        opened = self.box.open(record["client_state"])
        if self.box.stale(record["client_state"]):
            swap_field(self.redis, self.key, record["id"], json.dumps(record),
                       json.dumps(record | {"client_state": self.box.seal(opened)}))
        return opened

    def opens(self, record: dict[str, Any]) -> bool:
        """Whether a key this app holds opens `record`'s client state (sealing it again under
        SECRET_KEY if an older key did)."""
        try:
            self.open_client_state(record)
        except SealError:
            return False
        return True

    def save(self, record: dict[str, Any]) -> None:
        self.redis.hset(self.key, record["id"], json.dumps(record))

    def drop(self, subscription_id: str) -> None:
        self.redis.hdel(self.key, subscription_id)

    # what went wrong keeping a resource's subscription, until it goes right
    def problems(self) -> dict[str, dict[str, Any]]:
        return {_text(k): json.loads(v) for k, v in self.redis.hgetall(self.problems_key).items()}

    def failed(self, resource: str, problem: str, now: dt.datetime) -> None:
        self.redis.hset(self.problems_key, resource, json.dumps({
            "resource": resource, "problem": problem, "failed_at": iso(now)}))

    def succeeded(self, *resources: str) -> None:
        if resources:
            self.redis.hdel(self.problems_key, *resources)

    def public(self) -> list[dict[str, Any]]:
        """What status shows: no client state, how many users a presence one covers, and the
        last failure of each resource (also of those no subscription exists for yet)."""
        problems = self.problems()
        shown = [{k: v for k, v in r.items() if k not in ("client_state", "user_ids")}
                 | ({"covers": len(r["user_ids"])} if "user_ids" in r else {})
                 | _problem_fields(problems.pop(str(r["resource"]), None))
                 for r in self.all().values()]
        return shown + [{"id": None} | p for p in problems.values()]


def maintain(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """The upkeep (core/subscription_upkeep.py), under the name callers knew it by here."""
    from core.subscription_upkeep import maintain as upkeep

    return upkeep(*args, **kwargs)


def kind_of(record: dict[str, Any]) -> str:
    """users, groups, contacts or presence: what a notification of this subscription is about."""
    resource = str(record["resource"])
    if resource.startswith("communications/presences"):
        return "presence"
    return "contacts" if resource.endswith("/contacts") else resource


def delete(graph: GraphClient, store: SubscriptionStore, subscription_id: str) -> None:
    try:
        graph.delete_subscription(subscription_id)
    except GraphError as exc:
        if exc.status != 404:
            raise
    store.drop(subscription_id)


def renew(graph: GraphClient, store: SubscriptionStore, subscription_id: str,
          now: dt.datetime, *, challenged: bool = False) -> None:
    """Extend a directory or contacts subscription (this also reauthorizes it); when Graph
    `challenged` it (reauthorizationRequired), not again within 10 minutes."""
    record = store.get(subscription_id)
    if challenged and record is not None and recently_authorized(record, now):
        return
    lifetime = CONTACT_LIFETIME if record and kind_of(record) == "contacts" else LIFETIME
    answer = graph.renew_subscription(subscription_id, iso(now + lifetime))
    if record is not None:
        store.save(record | {"expires_at": answer.get("expirationDateTime", iso(now + lifetime)),
                             "authorized_at": iso(now)})


def recently_authorized(record: dict[str, Any], now: dt.datetime) -> bool:
    """Made or renewed less than 10 minutes ago."""
    at = record.get("authorized_at")
    return at is not None and now - _parsed(at) < REAUTHORIZE_GAP


def delete_all(graph: GraphClient, store: SubscriptionStore) -> None:
    """Delete the app's subscriptions (presence needs the delegated client: see drop())."""
    for sub_id, record in list(store.all().items()):
        if kind_of(record) != "presence":
            delete(graph, store, sub_id)
    store.succeeded(*store.problems())


def _problem_fields(problem: dict[str, Any] | None) -> dict[str, Any]:
    return {"problem": problem["problem"], "failed_at": problem["failed_at"]} if problem else {}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def expires(record: dict[str, Any]) -> dt.datetime:
    """When a subscription record expires."""
    return _parsed(record["expires_at"])


def _parsed(stamp: Any) -> dt.datetime:
    when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
