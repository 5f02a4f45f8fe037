"""The upkeep of subscriptions keeps each resource on its own (issue item 5): a failure on one
contacts subscription, or while reading the mailboxes in range, stops nothing else, is shown on
its subscription, and is retried at the next upkeep. Against the Graph simulator, whose
handshake reaches the real webhook."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from dramatiq.brokers.stub import StubBroker

from core.clients import graph_client
from core.config import Settings
from core.contacts.mailboxes import mailboxes_in_range
from core.graph.client import GraphClient
from core.subscription_upkeep import MAILBOXES, maintain
from core.subscriptions import SubscriptionStore
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from sandbox.serve import ServedApp
from tests.conftest import Control
from webhook import create_app

SHARED_ALL = {"personal": {"enabled": False, "range": "all", "group_ids": []},
              "shared": {"enabled": True, "range": "all", "mailboxes": []}}


@pytest.fixture
def webhook(settings: Settings) -> Iterator[tuple[ServedApp, SubscriptionStore]]:
    broker = StubBroker()
    broker.declare_queue("default")
    app = create_app(settings, redis_client=fakeredis.FakeRedis(), broker=broker)
    served = ServedApp(app)
    yield served, app.extensions["subscriptions"]
    served.stop()


def upkeep(graph: GraphClient, webhook: tuple[ServedApp, SubscriptionStore], when: dt.datetime,
           mailboxes: Any) -> dict[str, dict[str, Any]]:
    served, store = webhook
    shown = maintain(graph, store, notification_url=f"{served.url}/graph/notifications",
                     lifecycle_url=f"{served.url}/graph/lifecycle", now=when,
                     contact_mailboxes=mailboxes)
    return {s["resource"]: s for s in shown}


def with_mailbox(sandbox: Sandbox, count: int) -> list[str]:
    store = sandbox.graph_store
    without = getattr(store, "mailboxless", set())  # no Exchange mailbox: no subscription
    return sorted(u["id"] for u in store.users.items.values()
                  if u.get("mail") and u["accountEnabled"] and u["id"] not in without)[:count]


def test_a_failing_contacts_subscription_stops_no_other_and_is_retried_next_time(
        sandbox: Sandbox, graph: GraphClient, graph_control: Control,
        webhook: tuple[ServedApp, SubscriptionStore]) -> None:
    seed_tenant(sandbox.graph_store, 20)
    mailboxes = with_mailbox(sandbox, 3)
    now = dt.datetime.now(dt.UTC)
    first = upkeep(graph, webhook, now, mailboxes)
    stuck = first[f"/users/{mailboxes[1]}/contacts"]
    later = now + dt.timedelta(days=6)  # contacts subscriptions (7 days) are due, not users
    graph_control.advance(6 * 86400)
    graph_control.fault(path=f"/v1.0/subscriptions/{stuck['id']}", method="PATCH", status=500,
                        count=20)

    renewed = upkeep(graph, webhook, later, mailboxes)

    assert len(first) == 5 and not any("problem" in s for s in first.values())
    assert "could not renew" in renewed[stuck["resource"]]["problem"]
    assert renewed[stuck["resource"]]["failed_at"].startswith(later.strftime("%Y-%m-%d"))
    for mailbox in (mailboxes[0], mailboxes[2]):
        resource = f"/users/{mailbox}/contacts"
        assert "problem" not in renewed[resource]
        assert renewed[resource]["expires_at"] > first[resource]["expires_at"]
    assert renewed["users"]["expires_at"] == first["users"]["expires_at"]  # not due yet

    graph_control.session.delete(f"{graph_control.base_url}/_sandbox/faults", timeout=10)
    retried = upkeep(graph, webhook, later, mailboxes)

    assert "problem" not in retried[stuck["resource"]]
    assert retried[stuck["resource"]]["expires_at"] > first[stuck["resource"]]["expires_at"]


def shared_mailboxes(settings: Settings) -> Any:
    """The mailboxes in range read with a token issued now (after a grant or a revocation)."""
    def read() -> list[str]:
        graph = graph_client(settings)
        return [m for *_, m in mailboxes_in_range(graph, None, SHARED_ALL)]  # type: ignore[arg-type]
    return read


def test_a_mailbox_read_that_fails_keeps_the_directory_and_contacts_subscriptions(
        sandbox: Sandbox, settings: Settings, graph: GraphClient, graph_control: Control,
        webhook: tuple[ServedApp, SubscriptionStore]) -> None:
    seed_tenant(sandbox.graph_store, 20)
    _, store = webhook
    now = dt.datetime.now(dt.UTC)
    first = upkeep(graph, webhook, now, shared_mailboxes(settings))
    graph_control.post("config", {"revoke": ["MailboxSettings.Read"]})

    second = upkeep(graph, webhook, now, shared_mailboxes(settings))

    shared = [r for r in first if r.endswith("/contacts")]
    assert len(shared) == 1 and not any("problem" in s for s in first.values())
    assert "a permission is missing" in second[MAILBOXES]["problem"]
    assert second[MAILBOXES]["id"] is None
    assert set(first) <= set(second)  # users, groups and the shared mailbox's: all kept
    assert not any("problem" in second[r] for r in first)
    assert sum(1 for s in sandbox.graph_store.subscriptions.values()
               if s["_kind"] == "contacts") == 1

    seen: list[set[str]] = []

    def mailboxes() -> list[str]:
        seen.append({s["resource"] for s in store.all().values()})
        return shared_mailboxes(settings)()

    store.redis.delete(store.key)  # the state is lost: users and groups are made again first
    third = upkeep(graph, webhook, now, mailboxes)

    assert seen == [{"users", "groups"}]
    assert "problem" not in third["users"] and "problem" not in third["groups"]
    assert MAILBOXES in third

    graph_control.post("config", {"grant": ["MailboxSettings.Read"]})
    fourth = upkeep(graph, webhook, now, shared_mailboxes(settings))

    assert MAILBOXES not in fourth and set(shared) <= set(fourth)
    assert not any("problem" in s for s in fourth.values())
