"""GraphClient against the Graph simulator over real HTTPS."""

from __future__ import annotations

import math
import time
import uuid

import pytest

from core.errors import AuthError, DeltaExpiredError, GraphError, ThrottledError
from core.graph.auth import GraphTokenSource
from core.graph.client import GraphClient
from core.http import Transport, new_session
from sandbox.graph.store import GraphStore
from sandbox.runner import Sandbox
from tests.conftest import Control


def add_users(store: GraphStore, count: int, *, user_type: str = "Member") -> list[str]:
    with store.lock:
        return [store.put_user({"displayName": f"User {i}", "givenName": "User",
                                "surname": str(i), "userPrincipalName": f"u{i}-{uuid.uuid4().hex[:6]}"
                                f"@contoso.com", "mail": None, "userType": user_type,
                                "accountEnabled": True, "businessPhones": []})["id"]
                for i in range(count)]


def test_users_are_paged_999_at_a_time_over_2500_users(sandbox: Sandbox, graph: GraphClient,
                                                       graph_control: Control) -> None:
    ids = add_users(sandbox.graph_store, 2500)

    users = list(graph.users())

    assert sorted(u.id for u in users) == sorted(ids)
    assert graph_control.counts()["GET /v1.0/users"] == math.ceil(2500 / 999)


def test_filter_by_user_type_returns_only_guests(sandbox: Sandbox, graph: GraphClient) -> None:
    add_users(sandbox.graph_store, 5)
    guests = add_users(sandbox.graph_store, 3, user_type="Guest")

    found = list(graph.users(filter="userType eq 'Guest'"))

    assert sorted(u.id for u in found) == sorted(guests)
    assert {u.user_type for u in found} == {"Guest"}


def test_delta_reports_updates_removals_and_member_changes(sandbox: Sandbox,
                                                           graph: GraphClient) -> None:
    alice, bob, carol = add_users(sandbox.graph_store, 3)
    group = graph.request("POST", "groups", json={
        "displayName": "Sales", "mailEnabled": False, "mailNickname": "sales",
        "securityEnabled": True})
    for member in (alice, bob):
        graph.request("POST", f"groups/{group['id']}/members/$ref",
                      json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{member}"})
    first_users = graph.users_delta()
    first_groups = graph.groups_delta()
    assert {u.id for u in first_users.changed} >= {alice, bob, carol}
    assert dict(first_groups.members)[group["id"]] and {
        m.id for m in dict(first_groups.members)[group["id"]]} == {alice, bob}

    graph.request("PATCH", f"users/{alice}", json={"jobTitle": "Director"})
    graph.request("DELETE", f"users/{bob}")  # soft delete: also leaves the group
    graph.request("POST", f"groups/{group['id']}/members/$ref",
                  json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{carol}"})
    users = graph.users_delta(first_users.delta_link)
    groups = graph.groups_delta(first_groups.delta_link)

    assert [u.id for u in users.changed] == [alice]
    assert users.changed[0].job_title == "Director"
    assert [(r.id, r.reason) for r in users.removed] == [(bob, "changed")]
    changes = {m.id: m.removed for m in dict(groups.members)[group["id"]]}
    assert changes == {bob: True, carol: False}
    again = graph.users_delta(users.delta_link)
    assert again.changed == () and again.removed == ()


def test_delta_link_older_than_seven_days_asks_for_a_full_read(graph: GraphClient,
                                                               graph_control: Control) -> None:
    link = graph.users_delta().delta_link
    graph_control.advance(7 * 24 * 3600 + 60)

    with pytest.raises(DeltaExpiredError) as caught:
        graph.users_delta(link)

    assert caught.value.status == 410


def test_retry_after_of_2_1_seconds_is_honoured(sandbox: Sandbox, graph: GraphClient,
                                                graph_control: Control) -> None:
    ids = add_users(sandbox.graph_store, 3)
    graph.token_source.token()
    graph_control.fault(path="/v1.0/users", status=429, retry_after=2.1, count=1)

    started = time.monotonic()
    users = list(graph.users())

    assert time.monotonic() - started >= 2.1
    assert sorted(u.id for u in users) == sorted(ids)
    assert graph_control.counts()["GET /v1.0/users"] == 2


def test_fourth_consecutive_429_surfaces_as_an_error(graph: GraphClient,
                                                     graph_control: Control) -> None:
    graph_control.fault(path="/v1.0/users", status=429, retry_after=0.05, count=4)

    with pytest.raises(ThrottledError) as caught:
        list(graph.users())

    assert caught.value.status == 429
    assert graph_control.counts()["GET /v1.0/users"] == 4


def test_retry_after_longer_than_max_wait_is_left_to_the_caller(graph: GraphClient,
                                                                graph_control: Control) -> None:
    graph_control.fault(path="/v1.0/users", status=503, retry_after=120, count=1)

    with pytest.raises(ThrottledError) as caught:
        list(graph.users())

    assert caught.value.retry_after == 120
    assert graph_control.counts()["GET /v1.0/users"] == 1


def test_wrong_secret_gives_a_clear_error_without_the_secret(sandbox: Sandbox) -> None:
    values = sandbox.describe()
    wrong = "not-the-secret-" + uuid.uuid4().hex
    source = GraphTokenSource(tenant_id=values["tenant_id"], client_id=values["client_id"],
                              client_secret=wrong, authority_host=values["authority_host"],
                              session=new_session(values["ca_bundle"]))

    with pytest.raises(AuthError) as caught:
        source.token()

    assert caught.value.reason == "bad_secret"
    assert "AADSTS7000215" in str(caught.value)
    assert wrong not in str(caught.value)


def test_unknown_tenant_and_expired_secret_have_their_own_reasons(
        sandbox: Sandbox, graph_control: Control) -> None:
    values = sandbox.describe()

    def source(tenant: str) -> GraphTokenSource:
        return GraphTokenSource(tenant_id=tenant, client_id=values["client_id"],
                                client_secret=values["client_secret"],
                                authority_host=values["authority_host"],
                                session=new_session(values["ca_bundle"]))

    with pytest.raises(AuthError) as unknown:
        source(str(uuid.uuid4())).token()
    graph_control.post("config", {"secret_expires_in": -1})
    with pytest.raises(AuthError) as expired:
        source(values["tenant_id"]).token()

    assert unknown.value.reason == "tenant_not_found"
    assert expired.value.reason == "secret_expired"


def test_missing_consent_is_a_403_from_graph(graph: GraphClient, graph_control: Control) -> None:
    graph_control.post("config", {"granted_roles": []})

    with pytest.raises(GraphError) as caught:
        list(graph.users())

    assert caught.value.status == 403
    assert caught.value.code == "Authorization_RequestDenied"


def test_a_revoked_token_is_replaced_once(sandbox: Sandbox, graph: GraphClient) -> None:
    add_users(sandbox.graph_store, 2)
    graph.token_source.token()
    sandbox.graph_store.tokens.clear()  # as if Entra revoked every token

    assert len(list(graph.users())) == 2


def test_transitive_members_include_nested_groups(sandbox: Sandbox, graph: GraphClient) -> None:
    alice, bob = add_users(sandbox.graph_store, 2)
    store = sandbox.graph_store
    with store.lock:
        outer = store.put_group({"displayName": "Outer", "groupTypes": [], "securityEnabled": True,
                                 "mailEnabled": False, "mailNickname": "outer"})["id"]
        inner = store.put_group({"displayName": "Inner", "groupTypes": [], "securityEnabled": True,
                                 "mailEnabled": False, "mailNickname": "inner"})["id"]
        store.add_member(outer, alice)
        store.add_member(outer, inner)
        store.add_member(inner, bob)

    assert sorted(graph.group_user_ids(outer)) == sorted([alice, bob])
    assert list(graph.group_user_ids(outer, transitive=False)) == [alice]


def test_batch_answers_each_request_and_fails_dependents(sandbox: Sandbox,
                                                         graph: GraphClient) -> None:
    (alice,) = add_users(sandbox.graph_store, 1)

    answers = graph.batch([
        {"id": "1", "method": "GET", "url": f"/users/{alice}"},
        {"id": "2", "method": "GET", "url": "/users/does-not-exist"},
        {"id": "3", "method": "GET", "url": f"/users/{alice}", "dependsOn": ["2"]},
    ])

    assert [a["status"] for a in answers] == [200, 404, 424]
    assert answers[0]["body"]["id"] == alice


def test_presence_is_read_650_ids_a_call(sandbox: Sandbox, graph: GraphClient,
                                         graph_control: Control) -> None:
    ids = add_users(sandbox.graph_store, 700)

    presences = graph.presences(ids)

    assert sorted(p.id for p in presences) == sorted(ids)
    assert graph_control.counts()["POST /v1.0/communications/getPresencesByUserId"] == 2


def test_transport_error_names_the_request_not_the_token(sandbox: Sandbox) -> None:
    values = sandbox.describe()
    session = new_session(values["ca_bundle"])
    tokens = GraphTokenSource(tenant_id=values["tenant_id"], client_id=values["client_id"],
                              client_secret=values["client_secret"],
                              authority_host=values["authority_host"], session=session)
    client = GraphClient(base_url="https://127.0.0.1:1/v1.0",
                         transport=Transport(session, attempts=2, backoff=0.01),
                         token_source=tokens)

    with pytest.raises(Exception) as caught:
        list(client.users())

    assert "127.0.0.1:1/v1.0/users" in str(caught.value)
    assert tokens.token() not in str(caught.value)
