"""Incremental user sync from the users delta, against the sandbox and a real Redis."""

from __future__ import annotations

from typing import Any

import pytest

from core.engine.engine import run_here
from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.store.redis import StateStore
from core.users.sync import UserSync
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.conftest import Control


def run(graph: GraphClient, pbx: PbxClient, state: StateStore, **options: Any) -> dict[str, Any]:
    return run_here([UserSync()], graph=graph, pbx=pbx, store=state, **options)


@pytest.fixture
def synced(sandbox: Sandbox, graph: GraphClient, pbx: PbxClient,
           state: StateStore) -> list[dict[str, Any]]:
    seed_tenant(sandbox.graph_store, 30)
    assert run(graph, pbx, state)["mode"] == "full"
    return [u for u in sandbox.graph_store.users.items.values()
            if u["accountEnabled"] and u["userType"] == "Member"]


def test_changed_user_is_synced_from_the_delta_alone(
        synced: list[dict[str, Any]], graph: GraphClient, pbx: PbxClient, state: StateStore,
        graph_control: Control) -> None:
    user = synced[0]
    graph.request("PATCH", f"users/{user['id']}", json={"jobTitle": "Chief Listener"})
    before = graph_control.counts().get("GET /v1.0/users", 0)

    result = run(graph, pbx, state, incremental=True)

    link = state.user_links()[user["id"]]
    assert result["mode"] == "incremental" and result["counts"]["updated"] == 1
    assert pbx.get_extension(link.ext_id).title == "Chief Listener"
    assert graph_control.counts().get("GET /v1.0/users", 0) == before  # no full listing


def test_deleted_user_loses_its_extension_incrementally(
        synced: list[dict[str, Any]], graph: GraphClient, pbx: PbxClient,
        state: StateStore) -> None:
    user = synced[1]
    link = state.user_links()[user["id"]]
    graph.request("DELETE", f"users/{user['id']}")

    result = run(graph, pbx, state, incremental=True)

    assert result["mode"] == "incremental" and result["counts"]["deleted"] == 1
    assert user["id"] not in state.user_links()
    assert pbx.find_extension(link.number) is None


def test_expired_delta_link_falls_back_to_a_full_read(
        synced: list[dict[str, Any]], graph: GraphClient, pbx: PbxClient, state: StateStore,
        graph_control: Control) -> None:
    graph_control.advance(8 * 24 * 3600)

    result = run(graph, pbx, state, incremental=True)

    assert result["state"] == "succeeded" and result["mode"] == "full"
    assert run(graph, pbx, state, incremental=True)["mode"] == "incremental"


def test_changed_rules_force_a_full_read(synced: list[dict[str, Any]], graph: GraphClient,
                                         pbx: PbxClient, state: StateStore) -> None:
    document = state.settings()
    document["users"]["range"] = "types"
    state.save_settings(document)

    result = run(graph, pbx, state, incremental=True)

    assert result["mode"] == "full"
    assert result["counts"]["released"] > 0  # the guests left the range
