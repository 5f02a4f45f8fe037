"""Delivery of change and lifecycle notifications, as Graph does it.

Items for one notification URL are batched into one `{"value": [...]}` POST. A delivery that
is not answered 2xx within 3 s is retried with backoff (10 s timeout) for up to 4 hours;
`duplicate_rate` resends some batches, since real Graph delivers at least once. Subscriptions
past their expiry are dropped silently. In a subscription's last `reauthorize_before` seconds,
`reauthorizationRequired` is sent every `REAUTHORIZE_EVERY` seconds after it was last
authorized (made, renewed or reauthorized): the documents' cadence is "every 15 min in the
last hour", so a presence subscription (60 minutes at most) is challenged from its 15th minute.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import requests

from sandbox.graph.store import Change, GraphStore

FIRST_TIMEOUT, RETRY_TIMEOUT, GIVE_UP_AFTER = 3.0, 10.0, 4 * 3600.0
MAX_BATCH = 100
REAUTHORIZE_EVERY = 15 * 60


@dataclass
class Pending:
    url: str
    item: dict[str, Any]
    first_try: float = field(default_factory=time.monotonic)
    attempts: int = 0
    due: float = field(default_factory=time.monotonic)


class Notifier:
    """Matches store changes to subscriptions and delivers them from a background thread."""

    def __init__(self, store: GraphStore, *, duplicate_rate: float = 0.0,
                 reauthorize_before: float = 3600.0, seed: int | None = None) -> None:
        self.store = store
        self.duplicate_rate = duplicate_rate
        self.reauthorize_before = reauthorize_before
        self.random = random.Random(seed)
        self.pending: list[Pending] = []
        self.delivered: deque[dict[str, Any]] = deque(maxlen=1000)  # recent batches and answers
        self.lock = threading.Lock()
        self.session = requests.Session()
        self.session.trust_env = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="graph-notifier", daemon=True)
        store.listeners.append(self.on_change)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        self.session.close()

    # matching ----------------------------------------------------------------------------
    def on_change(self, change: Change) -> None:
        """Queue a notification for every subscription that covers `change`."""
        for sub in list(self.store.subscriptions.values()):
            if change.change_type in sub["changeType"].split(",") and _covers(sub, change):
                self.enqueue(sub["notificationUrl"], self._item(sub, change))

    def _item(self, sub: dict[str, Any], change: Change) -> dict[str, Any]:
        tenant = self.store.tenant_id
        if change.kind == "presence":
            return self._presence_item(sub, change)
        if change.kind == "contacts":
            resource = f"Users/{change.owner_id}/Contacts/{change.object_id}"
            data = {"@odata.type": "#Microsoft.Graph.Contact", "@odata.id": resource,
                    "@odata.etag": f'W/"{uuid.uuid4().hex}"', "id": change.object_id}
        else:
            entity = "User" if change.kind == "users" else "Group"
            resource = f"{entity}s/{change.object_id}"
            data = {"@odata.type": f"#Microsoft.Graph.{entity}", "@odata.id": resource,
                    "id": change.object_id, "organizationId": tenant}
        return {"id": uuid.uuid4().hex, "subscriptionId": sub["id"],
                "subscriptionExpirationDateTime": sub["expirationDateTime"], "tenantId": tenant,
                "clientState": sub.get("clientState"), "changeType": change.change_type,
                "resource": resource, "resourceData": data}

    def _presence_item(self, sub: dict[str, Any], change: Change) -> dict[str, Any]:
        """A basic presence notification as Graph sends it since June 2024: "Breaking changes
        to Microsoft Graph presence and online meeting basic change notifications" (Microsoft
        365 Developer Blog): the filter form of the resource, URL-encoded, one user a
        notification, and no notification id or organizationId."""
        user_id = change.object_id
        return {"subscriptionId": sub["id"], "clientState": sub.get("clientState"),
                "changeType": change.change_type,
                "resource": f"communications/presences?$filter=id+in+(%27{user_id}%27)",
                "subscriptionExpirationDateTime": sub["expirationDateTime"],
                "resourceData": {"@odata.type": "#Microsoft.Graph.presence",
                                 "@odata.id": f"users/{user_id}/presence", "id": user_id},
                "tenantId": self.store.tenant_id}

    def lifecycle(self, sub: dict[str, Any], event: str) -> None:
        url = sub.get("lifecycleNotificationUrl")
        if url:
            self.enqueue(url, {"subscriptionId": sub["id"],
                               "subscriptionExpirationDateTime": sub["expirationDateTime"],
                               "tenantId": self.store.tenant_id,
                               "clientState": sub.get("clientState"), "lifecycleEvent": event})

    def enqueue(self, url: str, item: dict[str, Any]) -> None:
        with self.lock:
            self.pending.append(Pending(url, item))
        self._wake.set()

    # delivery ----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            self._sweep()
            for url, batch in self._due_batches():
                self._deliver(url, batch)

    def _due_batches(self) -> list[tuple[str, list[Pending]]]:
        now = time.monotonic()
        batches: dict[str, list[Pending]] = {}
        with self.lock:
            for pending in list(self.pending):
                if pending.due <= now and len(batches.get(pending.url, [])) < MAX_BATCH:
                    batches.setdefault(pending.url, []).append(pending)
                    self.pending.remove(pending)
        return list(batches.items())

    def _deliver(self, url: str, batch: list[Pending]) -> None:
        body = {"value": [p.item for p in batch]}
        timeout = RETRY_TIMEOUT if any(p.attempts for p in batch) else FIRST_TIMEOUT
        copies = 2 if self.random.random() < self.duplicate_rate else 1
        for _ in range(copies):
            try:
                status = self.session.post(url, json=body, timeout=timeout).status_code
            except requests.RequestException:
                status = 0
            self.delivered.append({"url": url, "body": body, "status": status})
            if not 200 <= status < 300:
                break
        if 200 <= status < 300:
            return
        now = time.monotonic()
        with self.lock:
            for pending in batch:
                pending.attempts += 1
                if now - pending.first_try < GIVE_UP_AFTER:
                    pending.due = now + min(60.0, 0.5 * 2 ** pending.attempts)
                    self.pending.append(pending)

    def _sweep(self) -> None:
        now = self.store.clock.time()
        with self.store.lock:
            for sub_id, sub in list(self.store.subscriptions.items()):
                if sub["_expires"] <= now:
                    del self.store.subscriptions[sub_id]
                elif (sub["_expires"] - now <= self.reauthorize_before
                      and now - sub["_authorized_at"] >= REAUTHORIZE_EVERY):
                    sub["_authorized_at"] = now  # the next challenge, 15 minutes on
                    self.lifecycle(public(sub), "reauthorizationRequired")


def public(sub: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sub.items() if not k.startswith("_")}


def _covers(sub: dict[str, Any], change: Change) -> bool:
    kind, scope = sub["_kind"], sub["_scope"]
    if kind != change.kind:
        return False
    if kind == "contacts":
        owner, folder = scope
        return bool(owner == change.owner_id and folder == change.folder_id)
    if kind == "presence":
        return change.object_id in scope
    return scope is None or scope == change.object_id
