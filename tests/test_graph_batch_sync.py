"""User, group and contact sync with batched Graph reads: the same end state as reading one
resource a request, in far fewer requests; a read that stays throttled changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from core.config import Settings
from core.contacts.sync import ContactSync
from core.engine.engine import run_here
from core.graph.client import GraphClient
from core.groups.sync import GroupSync
from core.pbx.client import PbxClient
from core.store.redis import StateStore
from core.sync_settings import merge
from core.users.sync import UserSync
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.conftest import Control
from tests.test_graph_batch import client, group_of, requests_seen, reset

CHANGES = ("created", "updated", "deleted", "released")


def changed(run: dict[str, Any]) -> int:
    return sum(run["counts"].get(kind, 0) for kind in CHANGES)


@pytest.fixture
def tenant(sandbox: Sandbox) -> list[str]:
    """A seeded tenant with 45 groups (the seed's 6 and 39 small ones); their ids."""
    store = sandbox.graph_store
    seed_tenant(store, 60)
    users = sorted(uid for uid, u in store.users.items.items() if u.get("accountEnabled"))
    for n in range(39):
        group_of(store, users[n % len(users) : n % len(users) + 3])
    return list(store.groups.items)


def test_group_range_user_sync_reads_45_groups_in_3_batches_to_the_same_end_state(
        settings: Settings, pbx: PbxClient, state: StateStore, graph_control: Control,
        tenant: list[str]) -> None:
    assert len(tenant) == 45
    state.save_settings(merge(state.settings(), {"users": {"range": "groups",
                                                           "group_ids": tenant}}))
    batched, plain = client(settings), client(settings, batching=False)
    reset(graph_control)

    first = run_here([UserSync()], graph=batched, pbx=pbx, store=state)
    seen_batched = requests_seen(graph_control)
    reset(graph_control)
    again = run_here([UserSync()], graph=plain, pbx=pbx, store=state)  # one group a request
    seen_plain = requests_seen(graph_control)

    assert first["state"] == "succeeded" and first["counts"]["created"] > 0
    assert again["state"] == "succeeded" and changed(again) == 0  # it agrees with the batched read
    assert seen_batched["by_method_path"]["POST /v1.0/$batch"] == 3
    members = [k for k in seen_plain["by_method_path"] if "/transitiveMembers/" in k]
    assert len(members) == 45 and "POST /v1.0/$batch" not in seen_plain["by_method_path"]
    assert seen_batched["wire"] <= seen_plain["wire"] - 40


def test_group_sync_reads_members_in_batches_to_the_same_end_state(
        settings: Settings, pbx: PbxClient, state: StateStore, graph_control: Control,
        tenant: list[str]) -> None:
    batched, plain = client(settings), client(settings, batching=False)
    run_here([UserSync()], graph=batched, pbx=pbx, store=state)
    state.save_settings(merge(state.settings(), {"groups": {"enabled": True, "range": "groups",
                                                            "group_ids": tenant[:30]},
                                                 "schedule": {"timezone": "UTC"}}))
    reset(graph_control)

    first = run_here([GroupSync()], graph=batched, pbx=pbx, store=state)
    seen_batched = requests_seen(graph_control)
    again = run_here([GroupSync()], graph=plain, pbx=pbx, store=state)

    assert first["state"] == "succeeded" and first["counts"]["created"] > 0
    assert again["state"] == "succeeded" and changed(again) == 0
    assert seen_batched["by_method_path"]["POST /v1.0/$batch"] == 2  # 30 groups
    assert seen_batched["batched"]["total"] == 30


@pytest.fixture
def with_contacts(sandbox: Sandbox, settings: Settings, pbx: PbxClient,
                  state: StateStore) -> GraphClient:
    seed_tenant(sandbox.graph_store, 60)
    graph = client(settings)
    run_here([UserSync()], graph=graph, pbx=pbx, store=state)
    state.save_settings(merge(state.settings(), {"contacts": {
        "personal": {"enabled": True}, "shared": {"enabled": True}},
        "schedule": {"timezone": "UTC"}}))
    return graph


def test_contact_sync_reads_mailboxes_in_batches_to_the_same_end_state(
        settings: Settings, pbx: PbxClient, state: StateStore, graph_control: Control,
        with_contacts: GraphClient) -> None:
    plain = client(settings, batching=False)
    reset(graph_control)

    first = run_here([ContactSync()], graph=with_contacts, pbx=pbx, store=state)
    seen_batched = requests_seen(graph_control)
    reset(graph_control)
    again = run_here([ContactSync()], graph=plain, pbx=pbx, store=state)
    seen_plain = requests_seen(graph_control)

    mailboxes = [k for k in seen_plain["by_method_path"] if k.endswith("/contacts")]
    assert first["state"] == "succeeded" and first["counts"]["created"] > 0
    assert again["state"] == "succeeded" and changed(again) == 0
    assert len(mailboxes) >= 50  # one request a mailbox, read one by one
    assert seen_batched["batched"]["total"] >= len(mailboxes)
    assert seen_batched["wire"] * 4 < seen_plain["wire"]


def test_a_mailbox_that_stays_throttled_holds_its_phonebook_and_the_rest_sync(
        sandbox: Sandbox, pbx: PbxClient, state: StateStore, graph_control: Control,
        with_contacts: GraphClient) -> None:
    run_here([ContactSync()], graph=with_contacts, pbx=pbx, store=state)
    owner = next(uid for uid in sorted(state.user_links())
                 if uid in sandbox.graph_store.mailboxes
                 and any(k.startswith(f"{uid}/") for k in state.contact_links()))
    before = {k: v for k, v in state.contact_links().items() if k.startswith(f"{owner}/")}
    box = sandbox.graph_store.mailbox(owner)
    with sandbox.graph_store.lock:
        for contact_id in list(box.contacts[box.default_folder].items):
            sandbox.graph_store.delete_contact(owner, box.default_folder, contact_id)
    graph_control.fault(path=f"/v1.0/users/{owner}/contacts", status=429, retry_after=0.05,
                        count=100)

    run = run_here([ContactSync()], graph=with_contacts, pbx=pbx, store=state)

    assert run["state"] == "partial" and run["counts"]["deleted"] == 0
    assert [f["operation"] for f in run["failures"]] == ["read"]
    assert {k: v for k, v in state.contact_links().items() if k.startswith(f"{owner}/")} == before


def test_a_group_that_stays_throttled_fails_the_user_sync_before_any_write(
        settings: Settings, pbx: PbxClient, state: StateStore, graph_control: Control,
        pbx_control: Control, tenant: list[str]) -> None:
    state.save_settings(merge(state.settings(), {"users": {"range": "groups",
                                                           "group_ids": tenant}}))
    graph_control.fault(path=f"/v1.0/groups/{tenant[25]}/", status=429, retry_after=0.05,
                        count=100)

    run = run_here([UserSync()], graph=client(settings), pbx=pbx, store=state)

    assert run["state"] == "failed" and state.user_links() == {}
    assert not [k for k in pbx_control.counts() if "extension/create" in k]
