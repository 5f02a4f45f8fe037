"""The Graph reads provisioning adds (one user, the picker's search, checkMemberGroups), against
the Graph simulator over real HTTP."""

from __future__ import annotations

import uuid

import pytest

from core.errors import GraphError
from core.graph.client import GraphClient
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.conftest import Control


def test_check_member_groups_is_transitive_chunked_by_20_and_ignores_unknown_ids(
        sandbox: Sandbox, graph: GraphClient) -> None:
    store = sandbox.graph_store
    seed_tenant(store, 30)
    with store.lock:
        parent = next(g for g, members in store.members.items()
                      if any(m in store.groups.items for m in members))
        nested = next(m for m in store.members[parent] if m in store.groups.items)
        user = next(m for m in store.members[nested] if m in store.users.items)
        groups = list(store.groups.items)
        expected = {g for g in groups if user in store.transitive_members(g)}
    unknown = [str(uuid.uuid4()) for _ in range(25)]

    found = graph.member_groups(user, [*groups, *unknown])

    assert parent in found and nested in found and found == expected
    with pytest.raises(GraphError) as too_many:
        graph.request("POST", f"users/{user}/checkMemberGroups",
                      json={"groupIds": groups[:1] + unknown[:20]})
    assert too_many.value.status == 400
    assert graph.user(str(uuid.uuid4())) is None


def test_check_member_groups_needs_a_group_reading_permission(
        sandbox: Sandbox, graph: GraphClient, graph_control: Control) -> None:
    seed_tenant(sandbox.graph_store, 5)
    graph_control.post("config", {"revoke": ["Group.Read.All"]})
    user = next(iter(sandbox.graph_store.users.items))

    with pytest.raises(GraphError) as denied:
        graph.member_groups(user, list(sandbox.graph_store.groups.items))

    assert denied.value.status == 403 and denied.value.code == "Authorization_RequestDenied"


def test_find_users_escapes_quotes_and_matches_name_upn_or_mail(
        sandbox: Sandbox, graph: GraphClient) -> None:
    store = sandbox.graph_store
    seed_tenant(store, 10)
    with store.lock:
        quoted = store.put_user({"displayName": "Dara O'Neil", "userPrincipalName":
                                 f"dara.oneil@{store.domain}", "mail": "d.oneil@fabrikam.com",
                                 "userType": "Member", "accountEnabled": True})

    assert [u.id for u in graph.find_users("dara o'n")] == [quoted["id"]]
    assert [u.id for u in graph.find_users("DARA.ONEIL@")] == [quoted["id"]]
    assert [u.id for u in graph.find_users("d.oneil@fab")] == [quoted["id"]]
    assert graph.find_users("o'") == []  # starts of names only, not of inner words
