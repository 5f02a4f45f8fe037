"""The sync against a PBX simulator held to Yeastar's documents (issue "Works on a real tenant
and a real PBX"): number changes, phone numbers, Organization Management, phonebook contacts.
"""

from __future__ import annotations

from typing import Any

from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.store.redis import StateStore
from core.users.plan import NOT_RENUMBERED
from sandbox.runner import Sandbox
from tests.conftest import Control
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
