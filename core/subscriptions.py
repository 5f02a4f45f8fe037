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

from core.errors import GraphError
from core.graph import GraphClient
from core.secret_box import SecretBox
from core.state import StateStore

RESOURCES = (("users", "updated,deleted"), ("groups", "updated,deleted"))
LIFETIME = dt.timedelta(minutes=41_760 - 60)
RENEW_WHEN_LEFT = dt.timedelta(days=7)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SubscriptionStore:
    def __init__(self, state: StateStore, box: SecretBox) -> None:
        self.redis, self.key, self.box = state.redis, state.key("subscriptions"), box

    def all(self) -> dict[str, dict[str, Any]]:
        return {(k.decode() if isinstance(k, bytes) else k): json.loads(v)
                for k, v in self.redis.hgetall(self.key).items()}

    def get(self, subscription_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.key, subscription_id)
        return json.loads(raw) if raw else None

    def client_state(self, subscription_id: str) -> str | None:
        record = self.get(subscription_id)
        return self.box.open(record["client_state"]) if record else None

    def save(self, record: dict[str, Any]) -> None:
        self.redis.hset(self.key, record["id"], json.dumps(record))

    def drop(self, subscription_id: str) -> None:
        self.redis.hdel(self.key, subscription_id)

    def public(self) -> list[dict[str, Any]]:
        """What status shows: no client state."""
        return [{k: v for k, v in r.items() if k != "client_state"} for r in self.all().values()]


def maintain(graph: GraphClient, store: SubscriptionStore, *, notification_url: str,
             lifecycle_url: str, now: dt.datetime) -> list[dict[str, Any]]:
    """Make sure one live subscription per resource exists and is far from expiry."""
    at_graph = {s["id"]: s for s in graph.subscriptions()}
    mine = store.all()
    for sub_id in set(mine) - set(at_graph):
        store.drop(sub_id)  # expired or removed at Graph: re-created below
        mine.pop(sub_id)
    for resource, change_type in RESOURCES:
        current = next((r for r in mine.values() if r["resource"] == resource), None)
        if current is None:
            _create(graph, store, at_graph, resource, change_type, notification_url,
                    lifecycle_url, now)
        elif _expires(current) - now < RENEW_WHEN_LEFT:
            renew(graph, store, current["id"], now)
    return store.public()


def renew(graph: GraphClient, store: SubscriptionStore, subscription_id: str,
          now: dt.datetime) -> None:
    """Extend a subscription (this also reauthorizes it)."""
    record = store.get(subscription_id)
    answer = graph.renew_subscription(subscription_id, iso(now + LIFETIME))
    if record is not None:
        store.save(record | {"expires_at": answer.get("expirationDateTime", iso(now + LIFETIME))})


def delete_all(graph: GraphClient, store: SubscriptionStore) -> None:
    for sub_id in list(store.all()):
        try:
            graph.delete_subscription(sub_id)
        except GraphError as exc:
            if exc.status != 404:
                raise
        store.drop(sub_id)


def _create(graph: GraphClient, store: SubscriptionStore, at_graph: dict[str, dict[str, Any]],
            resource: str, change_type: str, notification_url: str, lifecycle_url: str,
            now: dt.datetime) -> None:
    for sub in at_graph.values():  # ours from before the state was lost: Graph would say 409
        if sub.get("resource") == resource and sub.get("notificationUrl") == notification_url:
            graph.delete_subscription(sub["id"])
    client_state = secrets.token_urlsafe(32)
    answer = graph.create_subscription(resource=resource, change_type=change_type,
                                       notification_url=notification_url,
                                       expiration=iso(now + LIFETIME), client_state=client_state,
                                       lifecycle_url=lifecycle_url)
    store.save({"id": answer["id"], "resource": resource, "change_type": change_type,
                "expires_at": answer.get("expirationDateTime", iso(now + LIFETIME)),
                "client_state": store.box.seal(client_state)})


def _expires(record: dict[str, Any]) -> dt.datetime:
    when = dt.datetime.fromisoformat(str(record["expires_at"]).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
