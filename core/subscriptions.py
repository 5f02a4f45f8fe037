"""Graph change-notification subscriptions for users and groups: create, renew, re-create, delete.

Each subscription has its own random `clientState`, kept sealed in Redis; the webhook compares
it in constant time. Directory subscriptions live at most 41,760 minutes; they are renewed
when less than a week is left, and re-created when Graph no longer has them.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
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

    def all(self) -> dict[str, dict[str, Any]]:
        return {(k.decode() if isinstance(k, bytes) else k): json.loads(v)
                for k, v in self.redis.hgetall(self.key).items()}

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

    def public(self) -> list[dict[str, Any]]:
        """What status shows: no client state, and how many users a presence one covers."""
        return [{k: v for k, v in r.items() if k not in ("client_state", "user_ids")}
                | ({"covers": len(r["user_ids"])} if "user_ids" in r else {})
                for r in self.all().values()]


def maintain(graph: GraphClient, store: SubscriptionStore, *, notification_url: str,
             lifecycle_url: str, now: dt.datetime,
             contact_mailboxes: list[str] | None = None) -> list[dict[str, Any]]:
    """Keep one live subscription per directory resource, and one per mailbox whose contacts
    are synced (O4); renew those near expiry, drop those no longer wanted."""
    at_graph = {s["id"]: s for s in graph.subscriptions()}
    mine = store.all()
    for sub_id in set(mine) - set(at_graph):
        if kind_of(mine[sub_id]) == "presence":
            continue  # made with a delegated token, which an app-only listing may not show
        store.drop(sub_id)  # expired or removed at Graph: re-created below
        mine.pop(sub_id)
    wanted = [(resource, change, "directory") for resource, change in RESOURCES]
    wanted += [(f"/users/{mailbox}/contacts", CONTACT_CHANGES, "contacts")
               for mailbox in contact_mailboxes or []]
    wanted_resources = {resource for resource, _, _ in wanted}
    for record in list(mine.values()):  # presence is kept by core/presence/subscription.py
        if record["resource"] not in wanted_resources and kind_of(record) != "presence":
            delete(graph, store, record["id"])
    for resource, change_type, family in wanted:
        current = next((r for r in mine.values() if r["resource"] == resource), None)
        lifetime = LIFETIME if family == "directory" else CONTACT_LIFETIME
        margin = RENEW_WHEN_LEFT if family == "directory" else CONTACT_RENEW_WHEN_LEFT
        if current is None:
            _create(graph, store, at_graph, resource, change_type, notification_url,
                    lifecycle_url, now, lifetime)
        elif _expires(current) - now < margin:
            renew(graph, store, current["id"], now)
    return store.public()


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


def _create(graph: GraphClient, store: SubscriptionStore, at_graph: dict[str, dict[str, Any]],
            resource: str, change_type: str, notification_url: str, lifecycle_url: str,
            now: dt.datetime, lifetime: dt.timedelta) -> None:
    for sub in at_graph.values():  # ours from before the state was lost: Graph would say 409
        if sub.get("resource") == resource and sub.get("notificationUrl") == notification_url:
            graph.delete_subscription(sub["id"])
    client_state = secrets.token_urlsafe(32)
    answer = graph.create_subscription(resource=resource, change_type=change_type,
                                       notification_url=notification_url,
                                       expiration=iso(now + lifetime), client_state=client_state,
                                       lifecycle_url=lifecycle_url)
    store.save({"id": answer["id"], "resource": resource, "change_type": change_type,
                "expires_at": answer.get("expirationDateTime", iso(now + lifetime)),
                "authorized_at": iso(now), "client_state": store.box.seal(client_state)})


def _expires(record: dict[str, Any]) -> dt.datetime:
    return _parsed(record["expires_at"])


def _parsed(stamp: Any) -> dt.datetime:
    when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
