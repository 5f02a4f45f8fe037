"""The event pipeline end to end: Graph writes → notifications → webhook → Dramatiq → PBX.

Real redis-server, real `dramatiq` worker processes, the web app on a real port, the sandbox.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core.clients import graph_client
from core.graph.client import GraphClient
from sandbox.control import Fault
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.conftest import Control
from tests.stack import Stack, wait_for


@pytest.fixture
def stack(redis_server: Any, request: pytest.FixtureRequest) -> Iterator[Stack]:
    options = getattr(request, "param", {})
    with Sandbox() as sandbox:
        seed_tenant(sandbox.graph_store, options.get("users", 30))
        client = redis.Redis.from_url(redis_server.url)
        client.flushdb()
        running = Stack(sandbox, redis_server.url, window=options.get("window", 2),
                        max_changes=options.get("max_changes", 10))
        try:
            yield running
        finally:
            running.stop()
            client.flushdb()


def members(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [u for u in sandbox.graph_store.users.items.values()
            if u["accountEnabled"] and u["userType"] == "Member"]


def graph_of(stack: Stack) -> GraphClient:
    return graph_client(stack.settings, **stack.credentials)


def first_sync(stack: Stack) -> dict[str, Any]:
    stack.start_worker()
    stack.connect()
    answer = stack.api("PATCH", "/api/settings", {"users": {"enabled": True}})
    assert answer.status_code == 200 and "run_id" in answer.json()
    return stack.run(answer.json()["run_id"])


def title_of(stack: Stack, user_id: str) -> str:
    link = stack.app.extensions["state"].user_links()[user_id]
    ext = stack.sandbox.pbx_store.extensions.get(link.ext_id)
    return str(ext["title"]) if ext else ""


def test_patched_user_reaches_the_pbx_through_notifications(stack: Stack) -> None:
    assert first_sync(stack)["state"] == "succeeded"
    user = members(stack.sandbox)[0]

    graph_of(stack).request("PATCH", f"users/{user['id']}", json={"jobTitle": "Night Owl"})

    wait_for(lambda: title_of(stack, user["id"]) == "Night Owl", timeout=30,
             what="the new title on the PBX")
    changed = wait_for(lambda: [r for r in stack.runs() if r["trigger"] == "changes:users"
                                and r["finished_at"]], timeout=30, what="the run of the change")
    assert changed[-1]["mode"] == "incremental"


def change_titles(stack: Stack, users: list[dict[str, Any]], title: str) -> None:
    graph = graph_of(stack)
    for user in users:
        graph.request("PATCH", f"users/{user['id']}", json={"jobTitle": title})


def change_runs(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.runs() if r["trigger"] == "changes:users"]


@pytest.mark.parametrize("stack", [{"window": 60}], indirect=True)
def test_ten_changes_start_a_sync_at_once(stack: Stack) -> None:
    first_sync(stack)
    users = members(stack.sandbox)[:10]
    started = time.monotonic()

    change_titles(stack, users, "Burst")

    wait_for(lambda: all(title_of(stack, u["id"]) == "Burst" for u in users), timeout=30,
             what="ten new titles")
    assert time.monotonic() - started < 30  # well inside the 60 s window


@pytest.mark.parametrize("stack", [{"window": 4}], indirect=True)
def test_one_change_waits_for_the_window(stack: Stack) -> None:
    first_sync(stack)
    user = members(stack.sandbox)[0]
    started = time.monotonic()

    change_titles(stack, [user], "Patient")
    time.sleep(2)
    assert title_of(stack, user["id"]) != "Patient" and change_runs(stack) == []
    wait_for(lambda: title_of(stack, user["id"]) == "Patient", timeout=30,
             what="the title after the window")

    assert time.monotonic() - started >= 4
    assert len(change_runs(stack)) == 1


@pytest.mark.parametrize("stack", [{"window": 2}], indirect=True)
def test_duplicated_notifications_make_one_sync(stack: Stack) -> None:
    first_sync(stack)
    stack.sandbox.notifier.duplicate_rate = 1.0
    user = members(stack.sandbox)[0]

    change_titles(stack, [user], "Echo")
    wait_for(lambda: title_of(stack, user["id"]) == "Echo", timeout=30, what="the title")
    time.sleep(4)  # room for a second run, should one have been asked for

    deliveries = [d for d in stack.sandbox.notifier.delivered
                  if d["url"].endswith("/graph/notifications")]
    assert len(deliveries) == 2 and deliveries[0]["body"] == deliveries[1]["body"]
    assert len(change_runs(stack)) == 1


@pytest.mark.parametrize("stack", [{"users": 150}], indirect=True)
def test_worker_killed_mid_sync_leaves_nothing_the_next_run_cannot_mend(stack: Stack) -> None:
    worker = stack.start_worker()
    stack.connect()
    stack.sandbox.pbx_control.faults.append(Fault(path="/openapi/v1.0/extension/create",
                                                  status=200, latency_ms=40, count=10_000))
    stack.api("PATCH", "/api/settings", {"users": {"enabled": True}})
    wait_for(lambda: len(stack.sandbox.pbx_store.extensions) >= 20, timeout=30,
             what="the first extensions")

    stack.kill(worker)
    stack.sandbox.pbx_control.faults.clear()
    stack.start_worker()
    run = stack.run(stack.api("POST", "/api/sync", {"scope": "users"}).json()["run_id"],
                    timeout=90)

    extensions = list(stack.sandbox.pbx_store.extensions.values())
    links = stack.app.extensions["state"].user_links()
    wanted = [u for u in stack.sandbox.graph_store.users.items.values() if u["accountEnabled"]]
    assert run["state"] == "succeeded" and run["counts"]["failed"] == 0
    assert len(extensions) == len(wanted) == len(links)
    assert len({e["number"] for e in extensions}) == len(extensions)
    assert len({e["email_addr"].lower() for e in extensions}) == len(extensions)
    assert stack.app.extensions["state"].pending_creates() == {}
    interrupted = next(r for r in stack.runs() if r["trigger"] == "first save")
    resumed = wait_for(  # its message comes back to a worker, which finishes it
        lambda: (r := stack.api("GET", f"/api/runs/{interrupted['id']}").json())["state"]
        == "succeeded" and r, timeout=90, what="the interrupted run resumed")
    # whichever ran first of it and the new run made what was missing; neither doubled anything
    assert resumed["counts"]["failed"] == 0 and not resumed["interrupted"]
    assert resumed["counts"]["created"] + run["counts"]["created"] <= len(wanted)


@pytest.mark.parametrize("stack", [{"window": 1, "max_changes": 3}], indirect=True)
def test_two_workers_share_the_queue_without_overlap_or_loss(stack: Stack) -> None:
    first_sync(stack)
    stack.start_worker()
    users = members(stack.sandbox)[:12]

    for round_number in range(3):
        change_titles(stack, users[round_number * 4:(round_number + 1) * 4],
                      f"Round {round_number}")
        time.sleep(0.3)
    wait_for(lambda: all(title_of(stack, u["id"]) == f"Round {i // 4}"
                         for i, u in enumerate(users)), timeout=60, what="every change")

    spans = sorted((r["started_at"], r["finished_at"]) for r in stack.runs()
                   if r["started_at"] and r["finished_at"])
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))
    assert len(change_runs(stack)) >= 1


def test_lifecycle_events_renew_recreate_and_resync(stack: Stack) -> None:
    first_sync(stack)
    subs = {s["resource"]: s for s in stack.api("GET", "/api/status").json()["subscriptions"]}
    users_sub = subs["users"]["id"]
    store = stack.sandbox.graph_store
    renewals = stack.sandbox.graph_control.requests
    control = Control(stack.sandbox.graph.url, str(stack.sandbox.cert_path))

    ours = stack.app.extensions["subscriptions"]
    ours.save(ours.get(users_sub) | {"authorized_at": "2026-01-01T00:00:00Z"})  # long ago
    control.post("lifecycle", {"subscriptionId": users_sub,
                               "lifecycleEvent": "reauthorizationRequired"})
    wait_for(lambda: renewals.get(f"PATCH /v1.0/subscriptions/{users_sub}", 0) == 1,
             timeout=30, what="the renewal of the subscription")
    control.post("lifecycle", {"subscriptionId": users_sub,  # answered just now: left alone
                               "lifecycleEvent": "reauthorizationRequired"})
    time.sleep(2)
    twice = renewals.get(f"PATCH /v1.0/subscriptions/{users_sub}", 0)
    control.post("lifecycle", {"subscriptionId": users_sub,
                               "lifecycleEvent": "subscriptionRemoved"})
    wait_for(lambda: any(s["resource"] == "users" and s["id"] != users_sub
                         for s in store.subscriptions.values()), timeout=30,
             what="a new users subscription")
    wait_for(lambda: any(r["trigger"] == "subscription removed" for r in stack.runs()),
             timeout=30, what="the reconciliation after the removal")
    assert twice == 1


def test_disconnect_deletes_subscriptions_and_releases_extensions(stack: Stack) -> None:
    first_sync(stack)
    extensions_before = len(stack.sandbox.pbx_store.extensions)

    answer = stack.api("POST", "/api/integration/disconnect", {"delete_extensions": False})
    run = stack.run(answer.json()["run_id"])

    status = stack.api("GET", "/api/status").json()
    assert run["state"] == "succeeded" and run["counts"]["released"] == extensions_before
    assert status["state"] == "disconnected" and status["connection"]["status"] == "not_configured"
    assert stack.sandbox.graph_store.subscriptions == {}
    assert len(stack.sandbox.pbx_store.extensions) == extensions_before
    assert stack.app.extensions["state"].user_links() == {}
    assert stack.api("PATCH", "/api/settings", {"safety": {"max_deletions": 3}}).status_code == 409


def test_disable_with_deletion_stops_syncs_until_enabled(stack: Stack) -> None:
    first_sync(stack)
    user = members(stack.sandbox)[0]

    answer = stack.api("POST", "/api/integration/disable", {"delete_extensions": True})
    run = stack.run(answer.json()["run_id"])
    change_titles(stack, [user], "While Disabled")
    time.sleep(4)

    assert run["state"] == "succeeded" and stack.sandbox.pbx_store.extensions == {}
    assert stack.api("GET", "/api/status").json()["state"] == "disabled"
    assert stack.api("POST", "/api/sync", {"scope": "users"}).status_code == 409
    assert change_runs(stack) == []
    enabled = stack.api("POST", "/api/integration/enable")
    resumed = stack.run(enabled.json()["run_id"])
    assert resumed["state"] == "succeeded" and resumed["counts"]["created"] > 0
    assert title_of(stack, user["id"]) == "While Disabled"


def test_paused_user_sync_keeps_extensions_and_refuses_its_settings(stack: Stack) -> None:
    first_sync(stack)
    count = len(stack.sandbox.pbx_store.extensions)

    paused = stack.api("POST", "/api/user-sync/pause", {"delete_extensions": False})

    assert paused.status_code == 200 and paused.json()["run_id"] is None
    assert stack.api("PATCH", "/api/settings", {"users": {"range": "types"}}).status_code == 409
    assert stack.api("POST", "/api/sync", {}).status_code == 409
    assert len(stack.sandbox.pbx_store.extensions) == count
    resumed = stack.api("POST", "/api/user-sync/resume")
    assert stack.run(resumed.json()["run_id"])["state"] == "succeeded"


def pbx_group(stack: Stack, group_id: str) -> dict[str, Any] | None:
    link = stack.app.extensions["state"].group_links().get(group_id)
    return stack.sandbox.pbx_store.groups.get(link.pbx_group_id) if link else None


def expected_members(stack: Stack, group_id: str) -> set[int]:
    store, links = stack.sandbox.graph_store, stack.app.extensions["state"].user_links()
    return {links[u].ext_id for u in store.transitive_members(group_id) if u in links}


def test_groups_follow_entra_through_notifications(stack: Stack) -> None:
    first_sync(stack)
    answer = stack.api("PATCH", "/api/settings", {"groups": {"enabled": True}})
    assert stack.run(answer.json()["run_ids"]["groups"])["state"] == "succeeded"
    store = stack.sandbox.graph_store
    groups = list(store.groups.items.values())
    for group in groups:
        synced = pbx_group(stack, group["id"])
        assert synced is not None and synced["name"] == group["displayName"]
        assert {m["ext_id"] for m in synced["members"]} == expected_members(stack, group["id"])
    group = groups[0]
    outsider = next(u for u in members(stack.sandbox)
                    if u["id"] not in store.transitive_members(group["id"]))
    graph = graph_of(stack)

    graph.request("POST", f"groups/{group['id']}/members/$ref",
                  json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/"
                                     f"{outsider['id']}"})
    graph.request("PATCH", f"groups/{group['id']}", json={"displayName": "Renamed Team"})

    wait_for(lambda: (pbx_group(stack, group["id"]) or {}).get("name") == "Renamed Team"
             and {m["ext_id"] for m in pbx_group(stack, group["id"])["members"]}
             == expected_members(stack, group["id"]), timeout=30,
             what="the renamed group with its new member")
    assert stack.app.extensions["state"].user_links()[outsider["id"]].ext_id in {
        m["ext_id"] for m in pbx_group(stack, group["id"])["members"]}


def test_disable_can_delete_the_synced_extension_groups(stack: Stack) -> None:
    first_sync(stack)
    stack.run(stack.api("PATCH", "/api/settings", {"groups": {"enabled": True}})
              .json()["run_ids"]["groups"])
    synced = len(stack.app.extensions["state"].group_links())
    before = len(stack.sandbox.pbx_store.groups)

    answer = stack.api("POST", "/api/integration/disable", {"delete_groups": True})
    run = stack.run(answer.json()["run_id"])

    assert synced > 0 and run["state"] == "succeeded"
    assert len(stack.sandbox.pbx_store.groups) == before - synced
    assert stack.app.extensions["state"].group_links() == {}
    assert len(stack.sandbox.pbx_store.extensions) > 0  # extensions were not asked for


def test_teams_presence_reaches_extensions_one_way(stack: Stack) -> None:
    from workers.broker import POLL_PRESENCE, send

    first_sync(stack)
    assert stack.api("PATCH", "/api/settings", {"presence": {"enabled": True}}).status_code == 200
    links = stack.app.extensions["state"].user_links()
    ada, bob = [u for u in members(stack.sandbox) if u["id"] in links][:2]
    ada_ext, bob_ext = links[ada["id"]], links[bob["id"]]
    mapped = stack.api("PUT", f"/api/extensions/{ada_ext.number}/presence",
                       {"enabled": True, "map": {"Busy": "business_trip"}})
    graph = graph_of(stack)
    for user in (ada, bob):
        graph.request("POST", f"users/{user['id']}/presence/setPresence", json={
            "sessionId": stack.credentials["client_id"], "availability": "Busy",
            "activity": "InACall"})

    def presence_of(ext_id: int) -> str:
        return str(stack.sandbox.pbx_store.extensions[ext_id]["presence_status"])

    send(stack.app.extensions["broker"], POLL_PRESENCE)
    wait_for(lambda: presence_of(ada_ext.ext_id) == "business_trip"
             and presence_of(bob_ext.ext_id) == "away", timeout=20, what="the presence")
    stack.sandbox.pbx_store.extensions.change(bob_ext.ext_id, {"presence_status": "lunch"})
    send(stack.app.extensions["broker"], POLL_PRESENCE)
    time.sleep(2)

    assert mapped.status_code == 200 and mapped.json()["map"]["Available"] == "available"
    assert presence_of(bob_ext.ext_id) == "lunch"  # set on the PBX, Teams unchanged: kept
    assert stack.api("GET", "/api/extensions/99999/presence").status_code == 404
    assert stack.api("PUT", f"/api/extensions/{ada_ext.number}/presence",
                     {"map": {"Busy": "asleep"}}).status_code == 400


def test_outlook_contacts_follow_through_per_mailbox_subscriptions(stack: Stack) -> None:
    from workers.broker import MAINTAIN_SUBSCRIPTIONS, send

    first_sync(stack)
    answer = stack.api("PATCH", "/api/settings", {"contacts": {
        "personal": {"enabled": True}, "shared": {"enabled": True}}})
    assert stack.run(answer.json()["run_id"])["state"] == "succeeded"
    send(stack.app.extensions["broker"], MAINTAIN_SUBSCRIPTIONS)
    store = stack.sandbox.graph_store
    links = stack.app.extensions["state"].user_links()
    mailboxes = [uid for uid in links if store.user(uid) and store.user(uid).get("mail")
                 and uid not in store.mailboxless]  # no Exchange mailbox: nothing to watch
    wait_for(lambda: sum(1 for s in store.subscriptions.values() if s["_kind"] == "contacts")
             >= len(mailboxes), timeout=30, what="one contacts subscription per mailbox")
    owner = mailboxes[0]

    created = graph_of(stack).request("POST", f"users/{owner}/contacts", json={
        "givenName": "Nadia", "surname": "Newcontact", "mobilePhone": "+44 20 7946 0999"})

    key = f"{owner}/{created['id']}"
    wait_for(lambda: key in stack.app.extensions["state"].contact_links(), timeout=30,
             what="the new contact on the PBX")
    pbx_id = stack.app.extensions["state"].contact_links()[key].pbx_id
    contact = stack.sandbox.pbx_store.contacts[pbx_id]
    assert (contact["first_name"], contact["last_name"]) == ("Nadia", "Newcontact")
    assert any(r["trigger"] == "changes:contacts" for r in stack.runs())


def test_sync_everything_runs_only_the_parts_that_are_on(stack: Stack) -> None:
    stack.start_worker()
    stack.connect()
    stack.api("PATCH", "/api/settings", {"users": {"enabled": False},
                                         "groups": {"enabled": True}})
    time.sleep(1)  # the first save of groups runs; wait for it before asking again

    answer = stack.api("POST", "/api/sync", {"scope": "all"})
    run = stack.run(answer.json()["run_id"])

    assert run["state"] == "succeeded" and list(run["parts"]) == ["groups"]
    assert stack.sandbox.pbx_store.extensions == {}  # user sync is off: no extension made
