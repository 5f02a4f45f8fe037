"""The sync against a PBX simulator held to Yeastar's documents (issue "Works on a real tenant
and a real PBX"): number changes, phone numbers, Organization Management, phonebook contacts.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.store.redis import StateStore
from core.users.plan import NOT_RENUMBERED
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.conftest import Control
from tests.test_contact_sync_e2e import contacts_run, outlook, valid
from tests.test_user_sync_e2e import configure, sync

BY_PROPERTY = {"mode": "property", "start": "1000", "property": "businessPhones"}


def person(sandbox: Sandbox, name: str, **fields: Any) -> str:
    """A member user of the Graph simulator; returns its id."""
    with sandbox.graph_store.lock:
        return str(sandbox.graph_store.put_user({
            "displayName": f"{name} Test", "givenName": name, "surname": "Test",
            "userPrincipalName": f"{name.lower()}@contoso.com", "mail": f"{name.lower()}@contoso.com",
            "userType": "Member", "accountEnabled": True, "jobTitle": "Engineer",
            "businessPhones": [], "mobilePhone": None} | fields)["id"])


# 1. Edit an Extension has no `number` ----------------------------------------------------------
def test_a_changed_number_is_reported_never_sent_and_other_changes_apply(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        pbx_control: Control) -> None:
    configure(state, numbering=BY_PROPERTY)
    ada = person(sandbox, "Ada", businessPhones=["2000"])
    sync(graph, pbx, state)
    graph.request("PATCH", f"users/{ada}", json={"businessPhones": ["2001"], "jobTitle": "Lead"})

    run = sync(graph, pbx, state)

    ext = pbx.get_extension(state.user_links()[ada].ext_id)
    assert run["failures"] == [] and run["counts"]["updated"] == 1
    assert (ext.number, ext.title) == ("2000", "Lead")
    assert [r["reason"] for r in run["skipped"]] == [
        NOT_RENUMBERED.format(old="2000", new="2001")]


def test_with_recreate_a_changed_number_gets_a_new_extension(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    configure(state, numbering=BY_PROPERTY | {"on_change": "recreate"})
    ada = person(sandbox, "Ada", businessPhones=["2000"])
    sync(graph, pbx, state)
    old = state.user_links()[ada]
    graph.request("PATCH", f"users/{ada}", json={"businessPhones": ["2001"]})

    run = sync(graph, pbx, state)
    again = sync(graph, pbx, state)

    new = state.user_links()[ada]
    assert run["failures"] == [] and (run["counts"]["deleted"], run["counts"]["created"]) == (1, 1)
    assert new.number == "2001" and new.ext_id != old.ext_id
    assert pbx.get_extension(new.ext_id).email_addr == "ada@contoso.com"
    assert [e.number for e in pbx.extensions()] == ["2001"]
    assert again["counts"] == dict.fromkeys(again["counts"], 0)


def test_recreations_past_the_deletion_limit_are_held(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    configure(state, numbering=BY_PROPERTY | {"on_change": "recreate"})
    document = state.settings()
    document["safety"]["max_deletions"] = 0
    state.save_settings(document)
    ada = person(sandbox, "Ada", businessPhones=["2000"])
    sync(graph, pbx, state)
    graph.request("PATCH", f"users/{ada}", json={"businessPhones": ["2001"]})

    blocked = sync(graph, pbx, state)

    assert blocked["state"] == "blocked" and len(blocked["held_deletions"]) == 1
    assert [e.number for e in pbx.extensions()] == ["2000"]
    assert state.user_links()[ada].number == "2000"


# 2. Phone numbers in the documented charset --------------------------------------------------
def test_entra_phone_numbers_with_spaces_reach_the_pbx_in_its_charset(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    ada = person(sandbox, "Ada", mobilePhone="+1 425 555 0100")

    first = sync(graph, pbx, state)
    second = sync(graph, pbx, state)

    assert first["failures"] == [] and first["counts"]["created"] == 1
    assert pbx.get_extension(state.user_links()[ada].ext_id).mobile_number == "+14255550100"
    assert second["counts"] == dict.fromkeys(second["counts"], 0)


# 3. Organization Management --------------------------------------------------------------------
def test_without_an_organization_creates_fail_naming_organization_management(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        pbx_control: Control) -> None:
    pbx_control.post("config", {"organization_management": True})
    for name in ("Ada", "Bob", "Cy"):
        person(sandbox, name)

    run = sync(graph, pbx, state)

    assert run["state"] == "partial" and run["counts"]["failed"] == 3
    assert all("Organization Management" in f["reason"] and "users.organization" in f["reason"]
               for f in run["failures"])
    assert pbx_control.counts()["POST /openapi/v1.0/extension/create"] == 1
    assert state.user_links() == {} and state.pending_creates() == {}


def test_users_organization_places_new_extensions_in_it(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        pbx_control: Control) -> None:
    pbx_control.post("config", {"organization_management": True,
                                "organizations": ["Contoso", "Contoso/Sales", "Contoso/Support",
                                                  "Contoso/Support/Sales"]})
    configure(state, organization="Contoso/Sales")
    ada = person(sandbox, "Ada")

    run = sync(graph, pbx, state)

    ext = sandbox.pbx_store.extensions[state.user_links()[ada].ext_id]
    assert run["state"] == "succeeded" and run["counts"]["created"] == 1
    assert ext["organization_list"] == [{"value": "2"}]


def test_an_organization_the_pbx_does_not_have_fails_the_creates_with_the_reason(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        pbx_control: Control) -> None:
    pbx_control.post("config", {"organization_management": True,
                                "organizations": ["Contoso", "Contoso/Sales",
                                                  "Contoso/Support", "Contoso/Support/Sales"]})
    person(sandbox, "Ada")

    configure(state, organization="Marketing")
    missing = sync(graph, pbx, state)
    configure(state, organization="Sales")
    ambiguous = sync(graph, pbx, state)

    assert missing["failures"][0]["reason"] == (
        "users.organization 'Marketing' is not an organization of the PBX")
    assert ambiguous["failures"][0]["reason"] == (
        "users.organization 'Sales' names 2 organizations of the PBX; give its path, such as "
        "'Contoso/Sales'")
    assert "POST /openapi/v1.0/extension/create" not in pbx_control.counts()


def test_an_organization_set_while_the_pbx_has_the_feature_off_is_reported(
        sandbox: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    configure(state, organization="Contoso")
    person(sandbox, "Ada")

    run = sync(graph, pbx, state)

    assert run["counts"]["failed"] == 1
    assert run["failures"][0]["reason"].startswith(
        "users.organization is set, but Organization Management is off on the PBX")


# 4. A contact leaves its phonebook (phonebook/update del_contacts_id_list) before deletion ------
@pytest.fixture
def contacts_on(sandbox: Sandbox, graph: GraphClient, pbx: PbxClient,
                state: StateStore) -> Sandbox:
    seed_tenant(sandbox.graph_store, 40)
    sync(graph, pbx, state)
    document = state.settings()
    document["contacts"]["personal"]["enabled"] = document["contacts"]["shared"]["enabled"] = True
    state.save_settings(document)
    return sandbox


def owner_with_contacts(sandbox: Sandbox, state: StateStore, count: int) -> tuple[str, list[Any]]:
    for uid in state.user_links():
        mine = [c for c in outlook(sandbox, uid) if valid(c)]
        if len(mine) >= count:
            return uid, mine[:count]
    raise AssertionError("the seeded tenant has no user with enough contacts")


def test_deleted_outlook_contacts_leave_their_phonebook_and_are_deleted(
        contacts_on: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        pbx_control: Control) -> None:
    contacts_run(graph, pbx, state)
    owner, gone = owner_with_contacts(contacts_on, state, 2)
    pbx_ids = [state.contact_links()[f"{owner}/{c['id']}"].pbx_id for c in gone]
    for contact in gone:
        graph.request("DELETE", f"users/{owner}/contacts/{contact['id']}")

    run = contacts_run(graph, pbx, state)

    store = contacts_on.pbx_store
    assert run["failures"] == [] and run["counts"]["deleted"] == 2
    assert not set(pbx_ids) & set(store.contacts)
    assert not any(set(pbx_ids) & book["contacts"] for book in store.phonebooks.values())
    assert pbx_control.counts()["POST /openapi/v1.0/phonebook/update"] == 1  # one per phonebook


def test_a_contact_also_in_a_phonebook_not_synced_is_kept_with_the_reason(
        contacts_on: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    contacts_run(graph, pbx, state)
    owner, (contact,) = owner_with_contacts(contacts_on, state, 1)
    key = f"{owner}/{contact['id']}"
    pbx_id = state.contact_links()[key].pbx_id
    lobby = pbx.create_phonebook("Lobby")
    pbx.update_phonebook(lobby, add=[pbx_id])
    graph.request("DELETE", f"users/{owner}/contacts/{contact['id']}")

    kept = contacts_run(graph, pbx, state)
    pbx.update_phonebook(lobby, remove=[pbx_id])
    deleted = contacts_run(graph, pbx, state)

    assert kept["counts"]["failed"] == 1
    assert kept["failures"][0]["reason"].startswith("still in a phonebook the sync does not manage")
    assert deleted["failures"] == [] and deleted["counts"]["deleted"] == 1
    assert pbx_id not in contacts_on.pbx_store.contacts and key not in state.contact_links()
