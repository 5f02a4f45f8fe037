"""Presence notifications (P3) through the running stack: an admin authorizes once, Graph's
presence changes then reach the PBX as they arrive, with no poll."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from dramatiq import Message

from core.clients import graph_client
from core.presence.subscription import current
from core.subscriptions import iso
from tests.conftest import Control
from tests.stack import Stack, browser, form_post_fields, synced_stack, wait_for
from workers.broker import POLL_PRESENCE, QUEUE


@pytest.fixture
def stack(redis_server: Any) -> Iterator[Stack]:
    with synced_stack(redis_server.url, users=20,
                      settings={"presence": {"enabled": True}}) as running:
        yield running


def synced(stack: Stack) -> list[dict[str, Any]]:
    links = stack.app.extensions["state"].user_links()
    return sorted((u for u in stack.sandbox.graph_store.users.items.values() if u["id"] in links),
                  key=lambda u: u["id"])


def authorize(stack: Stack, admin: dict[str, Any]) -> requests.Response:
    """The admin page's button: the API's auth_uri, Entra's form_post, our callback."""
    begun = stack.api("POST", "/api/presence/authorization")
    assert begun.status_code == 200, begun.text
    session = browser(stack)
    entra = session.get(begun.json()["auth_uri"], params={"login_hint": admin["userPrincipalName"]},
                        timeout=30)
    return session.post(f"{stack.web.url}/sso/callback", data=form_post_fields(entra.text),
                        timeout=30)


def presence_subscriptions(stack: Stack) -> list[dict[str, Any]]:
    return [s for s in stack.sandbox.graph_store.subscriptions.values()
            if s["_kind"] == "presence"]


def set_presence(stack: Stack, user: dict[str, Any], availability: str) -> None:
    graph = graph_client(stack.settings, **stack.credentials)
    graph.request("POST", f"users/{user['id']}/presence/setPresence", json={
        "sessionId": stack.credentials["client_id"], "availability": availability,
        "activity": availability})


def presence_of(stack: Stack, user: dict[str, Any]) -> str:
    link = stack.app.extensions["state"].user_links()[user["id"]]
    return str(stack.sandbox.pbx_store.extensions[link.ext_id]["presence_status"])


def test_after_an_admin_authorizes_presence_changes_arrive_without_polling(stack: Stack) -> None:
    users = synced(stack)
    admin, ada = users[0], users[1]

    page = authorize(stack, admin)

    assert page.status_code == 200 and f"Authorized as {admin['userPrincipalName']}" in page.text
    wait_for(lambda: len(presence_subscriptions(stack)) == 1, timeout=20,
             what="the presence subscription")
    (sub,) = presence_subscriptions(stack)
    assert sub["creatorId"] == admin["id"] and sub["_scope"] == {u["id"] for u in users}
    first_poll_done(stack)
    status = stack.api("GET", "/api/status").json()
    assert status["presence"]["notifications"]["account"] == admin["userPrincipalName"]
    assert "cache" not in str(status) and "refresh" not in str(status).lower()
    shown = stack.api("GET", "/api/presence/authorization").json()
    assert shown["subscription"]["covers"] == len(users)

    teams, pbx = (("DoNotDisturb", "do_not_disturb") if presence_of(stack, ada) != "do_not_disturb"
                  else ("BeRightBack", "lunch"))
    set_presence(stack, ada, teams)  # no clock runs here: only a notification can carry it

    wait_for(lambda: presence_of(stack, ada) == pbx, timeout=20,
             what="the presence notification to reach the PBX")


def test_revoking_deletes_the_subscription_and_forgets_the_tokens(stack: Stack) -> None:
    authorized(stack)

    answer = stack.api("DELETE", "/api/presence/authorization")

    assert answer.status_code == 200 and answer.json()["subscription"] == "deleted at Graph"
    assert presence_subscriptions(stack) == []
    assert stack.api("GET", "/api/presence/authorization").json() == {
        "authorized": False, "subscription": None}


def poll(stack: Stack, **options: Any) -> None:
    """What the clock sends, with the actor's options."""
    stack.app.extensions["broker"].enqueue(Message(
        queue_name=QUEUE, actor_name=POLL_PRESENCE, args=(), kwargs=options, options={}))


def test_the_subscription_follows_who_has_presence_on(stack: Stack) -> None:
    users = authorized(stack)
    first = presence_subscriptions(stack)[0]["id"]
    number = stack.app.extensions["state"].user_links()[users[2]["id"]].number

    assert stack.api("PUT", f"/api/extensions/{number}/presence",
                     {"enabled": False}).status_code == 200
    poll(stack)

    wait_for(lambda: [s["id"] for s in presence_subscriptions(stack)] not in ([], [first]),
             timeout=20, what="the replaced presence subscription")
    (sub,) = presence_subscriptions(stack)
    assert sub["_scope"] == {u["id"] for u in users} - {users[2]["id"]}


def test_a_lapsed_authorization_is_shown_and_everyone_is_polled(stack: Stack) -> None:
    users = authorized(stack)
    store = stack.sandbox.graph_store
    with store.lock:  # the admin's tokens are revoked at Entra
        for key in [k for k, v in store.tokens.items() if v.get("kind") in ("delegated", "refresh")]:
            del store.tokens[key]
    store.subscriptions.clear()  # and Graph lost the subscription: no notification comes
    teams, pbx = (("BeRightBack", "lunch") if presence_of(stack, users[1]) != "lunch"
                  else ("DoNotDisturb", "do_not_disturb"))
    set_presence(stack, users[1], teams)
    ours = stack.app.extensions["subscriptions"]
    ours.save(current(ours) | {"authorized_at": iso(now() - dt.timedelta(minutes=11))})

    poll(stack, renew=True)  # as on Graph's next reauthorizationRequired

    wait_for(lambda: presence_of(stack, users[1]) == pbx, timeout=20,
             what="the poll to cover everyone")
    problem = stack.api("GET", "/api/presence/authorization").json()["problem"]
    assert problem and "sign in again" in problem


def test_a_subscription_whose_record_was_lost_is_replaced_not_doubled(stack: Stack) -> None:
    authorized(stack)
    (lost,) = presence_subscriptions(stack)
    stack.app.extensions["subscriptions"].drop(lost["id"])  # Redis lost it; Graph kept it

    poll(stack)

    wait_for(lambda: [s["id"] for s in presence_subscriptions(stack)] not in ([], [lost["id"]]),
             timeout=20, what="a new presence subscription")
    (new,) = presence_subscriptions(stack)
    assert stack.app.extensions["subscriptions"].get(new["id"]) is not None


def test_lifecycle_events_renew_or_replace_the_presence_subscription(stack: Stack) -> None:
    users = authorized(stack)
    (sub,) = presence_subscriptions(stack)
    control = Control(stack.sandbox.graph.url, str(stack.sandbox.cert_path))
    renewals = stack.sandbox.graph_control.requests
    patch = f"PATCH /v1.0/subscriptions/{sub['id']}"
    store = stack.app.extensions["subscriptions"]

    def challenge() -> None:
        control.post("lifecycle", {"subscriptionId": sub["id"],
                                   "lifecycleEvent": "reauthorizationRequired"})

    challenge()  # just made: not renewed again within 10 minutes (contracts §1.5)
    time.sleep(3)
    unanswered = renewals.get(patch, 0)
    store.save(store.get(sub["id"]) | {"authorized_at": iso(now() - dt.timedelta(minutes=11))})
    challenge()
    wait_for(lambda: renewals.get(patch, 0) == 1, timeout=30,
             what="the renewal with the admin's token")
    control.post("lifecycle", {"subscriptionId": sub["id"], "lifecycleEvent": "subscriptionRemoved"})

    wait_for(lambda: [s["id"] for s in presence_subscriptions(stack)] not in ([], [sub["id"]]),
             timeout=30, what="a new presence subscription")
    assert unanswered == 0
    assert presence_subscriptions(stack)[0]["creatorId"] == users[0]["id"]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def authorized(stack: Stack) -> list[dict[str, Any]]:
    """The synced users, once the first of them authorized presence notifications and the
    poll that made the subscription is done."""
    users = synced(stack)
    authorize(stack, users[0])
    wait_for(lambda: len(presence_subscriptions(stack)) == 1, timeout=20,
             what="the presence subscription")
    first_poll_done(stack)
    return users


def first_poll_done(stack: Stack) -> None:
    """The poll that made the subscription has let go of the presence lock."""
    wait_for(lambda: not stack.redis.exists("eps:lock:presence"), timeout=20,
             what="the first presence poll")
