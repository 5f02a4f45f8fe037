"""User sync end to end: the seeded sandbox over real HTTP, state in a real redis-server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.clients import sandbox_environment
from core.engine.engine import run_here
from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.store.redis import StateStore
from core.users.sync import UserSync
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.conftest import Control

WRITES = ("POST /openapi/v1.0/extension/create", "POST /openapi/v1.0/extension/update",
          "GET /openapi/v1.0/extension/delete", "POST /openapi/v1.0/extension/send_welcome_email")


def writes(counts: dict[str, int]) -> int:
    return sum(counts.get(path, 0) for path in WRITES)


def sync(graph: GraphClient, pbx: PbxClient, state: StateStore, **options: Any) -> dict[str, Any]:
    return run_here([UserSync()], graph=graph, pbx=pbx, store=state, **options)


def turn_on_users(state: StateStore) -> None:
    """What an administrator's first save of the user sync settings leaves in the store."""
    configure(state, enabled=True)
    state.mark_saved("users")
    state.set_flags(confirm=True, state="enabled")


def configure(state: StateStore, **users: Any) -> None:
    document = state.settings()
    document["users"] |= users
    state.save_settings(document)


@pytest.fixture
def seeded(sandbox: Sandbox) -> Sandbox:
    seed_tenant(sandbox.graph_store, 50)
    return sandbox


def test_seeded_tenant_becomes_extensions_and_a_second_sync_writes_nothing(
        seeded: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        pbx_control: Control) -> None:
    store = seeded.graph_store
    active = {u["id"]: u for u in store.users.items.values() if u["accountEnabled"]}

    first = sync(graph, pbx, state)
    after_first = pbx_control.counts()
    second = sync(graph, pbx, state)

    extensions = {e.email_addr: e for e in pbx.extension_details([e.id for e in pbx.extensions()])}
    assert first["state"] == "succeeded" and first["counts"]["created"] == len(active)
    assert first["summary"].startswith(f"Successfully synced {len(active)} users to PBX extensions")
    for user in active.values():
        ext = extensions[user["mail"]]
        assert (ext.first_name, ext.last_name, ext.title) == (
            user["givenName"] or user["displayName"], user["surname"] or "",
            user["jobTitle"] or "")
    assert sorted(e.number for e in extensions.values()) == [
        str(n) for n in range(1000, 1000 + len(active))]
    assert second["counts"] == dict.fromkeys(second["counts"], 0)
    assert writes(pbx_control.counts()) == writes(after_first)


def test_graph_503_on_page_3_fails_the_run_and_changes_nothing(
        seeded: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        graph_control: Control, pbx_control: Control) -> None:
    sync(graph, pbx, state)
    before_links, before_writes = state.user_links(), writes(pbx_control.counts())
    for user in list(seeded.graph_store.users.items.values())[:5]:
        graph.request("PATCH", f"users/{user['id']}", json={"accountEnabled": False})
    graph.page_size = 10
    graph_control.fault(path="/v1.0/users", method="GET", status=503, retry_after=0.01,
                        skip=2, count=10)

    run = sync(graph, pbx, state)

    assert run["state"] == "failed"
    assert "503" in run["error"] and "nothing was changed" in run["error"]
    assert state.user_links() == before_links
    assert writes(pbx_control.counts()) == before_writes
    assert state.run(run["id"])["state"] == "failed"


def test_a_directory_read_that_fails_early_reads_no_extension_details_for_nothing(
        seeded: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        graph_control: Control, pbx_control: Control) -> None:
    sync(graph, pbx, state)
    pbx_control.fault(path="/openapi/v1.0/extension/list", method="GET", status=200,
                      latency_ms=500, count=1)  # the PBX is still listing when Graph refuses
    graph_control.fault(path="/v1.0/users", method="GET", status=403, count=1)
    pbx_control.session.delete(f"{pbx_control.base_url}/_sandbox/requests", timeout=10)

    run = sync(graph, pbx, state)

    assert run["state"] == "failed" and "403" in run["error"]
    assert pbx_control.counts().get("GET /openapi/v1.0/extension/query", 0) == 0
    assert len(state.user_links()) > 0


def test_deletions_past_the_limit_block_the_run_until_allowed(
        seeded: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    configure(state)
    document = state.settings()
    document["safety"]["max_deletions"] = 2
    state.save_settings(document)
    sync(graph, pbx, state)
    leavers = [u for u in seeded.graph_store.users.items.values() if u["accountEnabled"]][:3]
    for user in leavers:
        graph.request("PATCH", f"users/{user['id']}", json={"accountEnabled": False,
                                                             "jobTitle": "Left"})
    count_before = len(list(pbx.extensions()))

    blocked = sync(graph, pbx, state)
    allowed = sync(graph, pbx, state, allow_deletions=True)

    assert blocked["state"] == "blocked" and len(blocked["held_deletions"]) == 3
    assert blocked["counts"]["deleted"] == 0 and "held back" in blocked["summary"]
    assert allowed["state"] == "succeeded" and allowed["counts"]["deleted"] == 3
    assert len(list(pbx.extensions())) == count_before - 3


def test_users_past_capacity_are_skipped_with_the_reason(
        seeded: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        pbx_control: Control) -> None:
    pbx_control.post("config", {"capacity": 10})

    run = sync(graph, pbx, state)

    assert run["counts"]["created"] == 10 and run["counts"]["failed"] == 0
    assert run["counts"]["skipped"] >= 30
    assert {s["reason"] for s in run["skipped"]} == {"the PBX has no free extension capacity"}


def test_welcome_emails_go_to_created_extensions_when_chosen(
        seeded: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore,
        pbx_control: Control) -> None:
    configure(state, send_welcome_email=True)

    run = sync(graph, pbx, state)

    sent = pbx_control.get("state")["welcome_emails"]
    assert sorted(sent) == sorted(link.ext_id for link in state.user_links().values())
    assert run["counts"]["welcome_emails"] == run["counts"]["created"]


def test_extension_deleted_by_hand_comes_back_with_its_number(
        seeded: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    sync(graph, pbx, state)
    link = sorted(state.user_links().values(), key=lambda lk: lk.number)[3]
    pbx.delete_extension(link.ext_id)

    run = sync(graph, pbx, state)

    assert run["counts"]["created"] == 1
    assert pbx.find_extension(link.number) is not None
    assert state.user_links()[link.user_id].number == link.number


def test_narrowing_the_range_releases_extensions_without_deleting_them(
        seeded: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    sync(graph, pbx, state)
    group = next(iter(seeded.graph_store.groups.items))
    members = set(graph.group_user_ids(group))
    configure(state, range="groups", group_ids=[group])
    count_before = len(list(pbx.extensions()))

    run = sync(graph, pbx, state)

    assert run["counts"]["released"] > 0 and run["counts"]["deleted"] == 0
    assert set(state.user_links()) <= members
    assert len(list(pbx.extensions())) == count_before
    assert len(state.released_users()) == run["counts"]["released"]


def test_dry_run_plans_and_writes_nothing(seeded: Sandbox, graph: GraphClient, pbx: PbxClient,
                                          state: StateStore, pbx_control: Control) -> None:
    run = sync(graph, pbx, state, dry_run=True)

    assert run["counts"]["created"] > 0 and run["summary"].startswith("Dry run")
    assert writes(pbx_control.counts()) == 0 and state.user_links() == {}


def test_sync_command_prints_the_summary(seeded: Sandbox, redis_server: Any,
                                         state: StateStore) -> None:
    root = Path(__file__).resolve().parent.parent
    env = os.environ | sandbox_environment(seeded.describe()) | {
        "SECRET_KEY": "user-sync-e2e-key-Kc5Wz1Xn8Qr3Lt7Vd2Hm9Bs", "REDIS_URL": redis_server.url}

    turn_on_users(state)
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "webhook", "sync"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert "Successfully synced" in result.stdout and "created" in result.stdout
    assert seeded.pbx_store.extensions
    assert env["ENTRA_CLIENT_SECRET"] not in result.stdout + result.stderr


def test_sync_command_exits_1_when_a_read_fails(sandbox: Sandbox, redis_server: Any,
                                                 state: StateStore) -> None:
    root = Path(__file__).resolve().parent.parent
    env = os.environ | sandbox_environment(sandbox.describe()) | {
        "SECRET_KEY": "user-sync-e2e-key-Kc5Wz1Xn8Qr3Lt7Vd2Hm9Bs", "REDIS_URL": redis_server.url,
        "ENTRA_CLIENT_SECRET": "wrong"}
    turn_on_users(state)

    result = subprocess.run([sys.executable, "-m", "flask", "--app", "webhook", "sync"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 1
    assert "bad_secret" in result.stdout and "nothing was changed" in result.stdout



def test_a_create_whose_link_was_never_written_is_adopted_not_doubled(
        seeded: Sandbox, graph: GraphClient, pbx: PbxClient, state: StateStore) -> None:
    configure(state, associate_by_email=False)
    user = next(u for u in seeded.graph_store.users.items.values()
                if u["accountEnabled"] and u["userType"] == "Member")
    # a run died between the PBX write and the link: the mark is there, the link is not
    state.mark_pending(user["id"], "1500")
    pbx.create_extension({"number": "1500", "first_name": "Half", "email_addr": user["mail"],
                          "user_password": "Secret12345x", "reg_name": "1500",
                          "reg_password": "reg-pass-123", "concurrent_registrations": 1,
                          "presence_status": "available"})

    run = sync(graph, pbx, state)

    assert state.user_links()[user["id"]].number == "1500"
    assert run["counts"]["failed"] == 0 and run["counts"]["linked"] == 1
    assert [e.number for e in pbx.extensions()].count("1500") == 1
    assert state.pending_creates() == {}
