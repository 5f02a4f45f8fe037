"""Outlook contacts → PBX phonebooks (O1-O3), against the sandbox with a real Redis."""

from __future__ import annotations

from typing import Any

import pytest

from core.contacts.sync import ContactSync
from core.engine.engine import run_here
from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.store.redis import StateStore
from core.sync_settings import merge
from core.users.sync import UserSync
from sandbox.control import Fault
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant


def contacts_run(graph: GraphClient, pbx: PbxClient, state: StateStore) -> dict[str, Any]:
    return run_here([ContactSync()], graph=graph, pbx=pbx, store=state)


@pytest.fixture
def synced(sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> Sandbox:
    seed_tenant(sandbox.graph_store, 40)
    run_here([UserSync()], graph=graph, pbx=pbx, store=state)
    state.save_settings(merge(state.settings(), {"contacts": {
        "personal": {"enabled": True}, "shared": {"enabled": True}},
        "schedule": {"timezone": "UTC"}}))
    return sandbox


def outlook(sandbox: Sandbox, user_id: str) -> list[dict[str, Any]]:
    box = sandbox.graph_store.mailbox(user_id)
    return list(box.contacts[box.default_folder].items.values())


def valid(contact: dict[str, Any]) -> bool:
    has_name = bool(contact.get("givenName") or contact.get("surname"))
    has_number = bool(contact.get("mobilePhone") or contact.get("homePhones")
                      or contact.get("businessPhones"))
    return has_name and has_number


def test_contacts_land_in_one_phonebook_per_mailbox_and_invalid_ones_are_reported(
        synced: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    store = synced.graph_store
    links = state.user_links()
    expected = {uid: outlook(synced, uid) for uid in store.mailboxes}
    shared = [uid for uid, s in store.mailbox_settings.items() if s.get("userPurpose") == "shared"]

    run = contacts_run(graph, pbx, state)

    books = {b["name"]: b for b in pbx.phonebooks()}
    want_valid = sum(sum(map(valid, cs)) for uid, cs in expected.items()
                     if uid in links or uid in shared)
    want_invalid = sum(len(cs) - sum(map(valid, cs)) for uid, cs in expected.items()
                       if uid in links or uid in shared)
    assert run["state"] == "succeeded" and run["counts"]["failed"] == 0
    assert run["counts"]["created"] == want_valid and run["counts"]["skipped"] == want_invalid
    assert "Sales Desk" in books
    for uid in links:
        if any(valid(c) for c in expected.get(uid, [])):
            assert f"{links[uid].label} ({links[uid].number})" in books
    assert all(r["reason"].startswith("a contact needs") for r in run["skipped"])
    assert contacts_run(graph, pbx, state)["counts"]["created"] == 0


def test_outlook_changes_and_deletions_follow(synced: Sandbox, graph: GraphClient,
                                             pbx: PbxClient, state: StateStore) -> None:
    contacts_run(graph, pbx, state)
    owner = next(uid for uid in state.user_links()
                 if sum(map(valid, outlook(synced, uid))) >= 2)
    first, second = [c for c in outlook(synced, owner) if valid(c)][:2]

    graph.request("PATCH", f"users/{owner}/contacts/{first['id']}",
                  json={"mobilePhone": "+1 555 0100"})
    graph.request("DELETE", f"users/{owner}/contacts/{second['id']}")
    run = contacts_run(graph, pbx, state)

    links = state.contact_links()
    rows = {int(r["id"]): r for r in pbx.company_contacts()}
    assert run["counts"]["updated"] == 1 and run["counts"]["deleted"] == 1
    assert rows[links[f"{owner}/{first['id']}"].pbx_id]["mobile"] == "+1 555 0100"
    assert f"{owner}/{second['id']}" not in links


def test_turning_personal_contacts_off_removes_their_phonebooks(
        synced: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    contacts_run(graph, pbx, state)
    state.save_settings(merge(state.settings(), {"contacts": {"personal": {"enabled": False}}}))

    run = contacts_run(graph, pbx, state)

    names = [b["name"] for b in pbx.phonebooks()]
    assert run["state"] == "succeeded" and run["counts"]["deleted"] > 0
    assert sorted(names) == ["All Company Contacts_Phonebook", "Sales Desk"]
    assert all(link.book_key.startswith("mailbox:") for link in state.contact_links().values())


def test_phonebooks_past_the_pbx_limit_are_skipped_with_the_reason(
        synced: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    synced.pbx_store.max_phonebooks = 3  # the default one and two more

    run = contacts_run(graph, pbx, state)

    reasons = {r["reason"] for r in run["skipped"]}
    assert run["counts"]["failed"] == 0 and len(list(pbx.phonebooks())) == 3
    assert any(r.startswith("the PBX has no room for more phonebooks") for r in reasons)


def test_a_dry_run_counts_the_contacts_and_writes_nothing(
        synced: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:

    dry = run_here([ContactSync()], graph=graph, pbx=pbx, store=state, dry_run=True)
    real = contacts_run(graph, pbx, state)

    assert dry["counts"]["created"] == real["counts"]["created"] > 0
    assert dry["counts"]["skipped"] == real["counts"]["skipped"]
    assert dry["summary"].startswith("Dry run")


def test_a_mailbox_that_cannot_be_read_holds_its_own_phonebook_and_the_rest_sync(
        synced: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    contacts_run(graph, pbx, state)
    owners = [uid for uid in state.user_links() if sum(map(valid, outlook(synced, uid))) >= 1]
    broken, other = owners[:2]
    gone = next(c for c in outlook(synced, broken) if valid(c))
    changed = next(c for c in outlook(synced, other) if valid(c))
    graph.request("DELETE", f"users/{broken}/contacts/{gone['id']}")
    graph.request("PATCH", f"users/{other}/contacts/{changed['id']}",
                  json={"mobilePhone": "+1 555 0199"})
    graph.transport.backoff = 0.001
    synced.graph_control.faults.append(Fault(path=f"/v1.0/users/{broken}/contacts",
                                             status=500, count=1000))

    run = contacts_run(graph, pbx, state)

    links = state.contact_links()
    rows = {int(r["id"]): r for r in pbx.company_contacts()}
    assert run["state"] == "partial" and run["counts"]["deleted"] == 0
    assert [f["operation"] for f in run["failures"]] == ["read"]
    assert "left as it is" in run["failures"][0]["reason"]
    assert links[f"{broken}/{gone['id']}"].pbx_id in rows  # nothing deleted for it
    assert rows[links[f"{other}/{changed['id']}"].pbx_id]["mobile"] == "+1 555 0199"
