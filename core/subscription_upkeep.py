"""The upkeep of the app's subscriptions: one per directory resource, one per mailbox whose
contacts are synced (O4); each resource on its own.

Users and groups first, then the mailboxes in range are read (only then: that read may be slow
or fail), then each contacts subscription. A failure (a 403, Graph down, a mailbox read that
fails) is recorded on its resource (`SubscriptionStore.failed`, shown in status), retried at
the next upkeep, and stops nothing else. Presence is kept by core/presence/subscription.py.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

from core.errors import GraphError, SyncError
from core.graph.client import GraphClient
from core.subscriptions import (
    CONTACT_CHANGES,
    CONTACT_LIFETIME,
    CONTACT_RENEW_WHEN_LEFT,
    LIFETIME,
    RENEW_WHEN_LEFT,
    RESOURCES,
    SubscriptionStore,
    delete,
    expires,
    iso,
    kind_of,
    renew,
)

# problems of no one subscription: listing them at Graph, reading the mailboxes in range
LISTING, MAILBOXES = "subscriptions", "contacts: mailboxes in range"


def maintain(graph: GraphClient, store: SubscriptionStore, *, notification_url: str,
             lifecycle_url: str, now: dt.datetime,
             contact_mailboxes: Callable[[], list[str]] | list[str] | None = None
             ) -> list[dict[str, Any]]:
    """Keep one live subscription per directory resource, and one per mailbox whose contacts
    are synced (O4); renew those near expiry, drop those no longer wanted.

    Each resource on its own: users and groups first, then the mailboxes in range are read
    (only then: that read may be slow or fail), then each contacts subscription. A failure is
    recorded on its resource (`public()`), retried at the next upkeep, and stops nothing else.
    """
    try:
        at_graph: dict[str, dict[str, Any]] | None = {s["id"]: s for s in graph.subscriptions()}
        store.succeeded(LISTING)
    except SyncError as exc:  # then go by what is stored: a gone one answers 404 on renewal
        at_graph = None
        store.failed(LISTING, f"could not list the subscriptions at Graph: {exc}", now)
    mine = store.all()
    for sub_id, record in list(mine.items()):
        if kind_of(record) != "presence" and not store.opens(record):
            # sealed under a key no longer held: its notifications could never be trusted
            try:
                delete(graph, store, sub_id)
                (at_graph or {}).pop(sub_id, None)
            except SyncError:
                store.drop(sub_id)  # one left at Graph is replaced below, or expires
            mine.pop(sub_id)
    for sub_id in set(mine) - set(at_graph if at_graph is not None else mine):
        if kind_of(mine[sub_id]) == "presence":
            continue  # made with a delegated token, which an app-only listing may not show
        store.drop(sub_id)  # expired or removed at Graph: re-created below
        mine.pop(sub_id)
    context = (graph, store, at_graph or {}, notification_url, lifecycle_url, now)
    for resource, change_type in RESOURCES:
        _keep(context, mine, resource, change_type, LIFETIME, RENEW_WHEN_LEFT)
    try:
        mailboxes = (contact_mailboxes() if callable(contact_mailboxes)
                     else list(contact_mailboxes or []))
        store.succeeded(MAILBOXES)
    except SyncError as exc:  # the contacts subscriptions stay as they are, renewed when due
        store.failed(MAILBOXES, "could not read the mailboxes in range (their contacts "
                     f"subscriptions are kept as they are): {_why(exc)}", now)
        mailboxes = [str(r["resource"]).split("/")[2] for r in mine.values()
                     if kind_of(r) == "contacts"]
    wanted = {f"/users/{mailbox}/contacts" for mailbox in mailboxes}
    for record in list(mine.values()):  # presence is kept by core/presence/subscription.py
        if kind_of(record) == "contacts" and record["resource"] not in wanted:
            try:
                delete(graph, store, record["id"])
                store.succeeded(record["resource"])
            except SyncError as exc:
                store.failed(record["resource"], f"could not delete the subscription: {_why(exc)}",
                             now)
    for resource in sorted(wanted):
        _keep(context, mine, resource, CONTACT_CHANGES, CONTACT_LIFETIME, CONTACT_RENEW_WHEN_LEFT)
    gone = set(store.problems()) - wanted - {r for r, _ in RESOURCES} - {LISTING, MAILBOXES}
    store.succeeded(*gone)  # no longer wanted: nothing to retry
    return store.public()


def _create(graph: GraphClient, store: SubscriptionStore, at_graph: dict[str, dict[str, Any]],
            resource: str, change_type: str, notification_url: str, lifecycle_url: str,
            now: dt.datetime, lifetime: dt.timedelta) -> None:
    for sub in list(at_graph.values()):  # ours from before the state was lost: Graph says 409
        if sub.get("resource") == resource and sub.get("notificationUrl") == notification_url:
            try:
                graph.delete_subscription(sub["id"])
            except GraphError as exc:
                if exc.status != 404:
                    raise
            at_graph.pop(sub["id"], None)
    client_state = secrets.token_urlsafe(32)
    answer = graph.create_subscription(resource=resource, change_type=change_type,
                                       notification_url=notification_url,
                                       expiration=iso(now + lifetime), client_state=client_state,
                                       lifecycle_url=lifecycle_url)
    store.save({"id": answer["id"], "resource": resource, "change_type": change_type,
                "expires_at": answer.get("expirationDateTime", iso(now + lifetime)),
                "authorized_at": iso(now), "client_state": store.box.seal(client_state)})


def _keep(context: tuple[Any, ...], mine: dict[str, dict[str, Any]], resource: str,
          change_type: str, lifetime: dt.timedelta, margin: dt.timedelta) -> None:
    """Create or renew one resource's subscription; a failure is recorded on it, not raised."""
    graph, store, at_graph, notification_url, lifecycle_url, now = context
    current = next((r for r in mine.values() if r["resource"] == resource), None)
    try:
        if current is None:
            _create(graph, store, at_graph, resource, change_type, notification_url,
                    lifecycle_url, now, lifetime)
        elif expires(current) - now < margin:
            try:
                renew(graph, store, current["id"], now)
            except GraphError as exc:
                if exc.status != 404:
                    raise
                store.drop(current["id"])  # gone at Graph: made again
                _create(graph, store, at_graph, resource, change_type, notification_url,
                        lifecycle_url, now, lifetime)
        store.succeeded(resource)
    except SyncError as exc:
        action = "renew" if current else "create"
        store.failed(resource, f"could not {action} the subscription: {_why(exc)}", now)


def _why(exc: SyncError) -> str:
    """The error, and for a 403 that a permission is missing (health names which)."""
    if isinstance(exc, GraphError) and exc.status == 403:
        return f"a permission is missing (see health in the status): {exc}"
    return str(exc)


