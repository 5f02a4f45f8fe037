"""The engine's rules end to end (design of issue 8): the deletion guard for contacts, every part
off until first saved, lost state, `partial` runs, one run for scope `all`, another tenant, and
the CLI through the engine. Real redis-server, real Dramatiq workers, the web app, the sandbox.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core.clients import graph_client
from core.graph.client import GraphClient
from sandbox.control import Fault
from sandbox.pbx.store import DEFAULT_PHONEBOOK
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.stack import ROOT, Stack, wait_for
from workers.broker import RECONCILE, make_broker, send

FINISHED = ("succeeded", "partial", "failed", "blocked")
EXT_CREATE, EXT_UPDATE = "/openapi/v1.0/extension/create", "/openapi/v1.0/extension/update"
EXT_DELETE = "GET /openapi/v1.0/extension/delete"
QUIET_SECONDS = 6  # the debounce window (2 s) and a run, had one been started


@pytest.fixture
def stack(redis_server: Any) -> Iterator[Stack]:
    """A seeded tenant and the whole product, one worker started, nothing connected yet."""
    with Sandbox() as sandbox:
        seed_tenant(sandbox.graph_store, 20)
        client = redis.Redis.from_url(redis_server.url)
        client.flushdb()
        running = Stack(sandbox, redis_server.url)
        try:
            running.start_worker()
            yield running
        finally:
            running.stop()
            client.flushdb()
            client.close()


# helpers (candidates for tests/stack.py) ---------------------------------------------------
def finished(stack: Stack, run_id: str, timeout: float = 45) -> dict[str, Any]:
    """The run's record once it has ended in any state, `partial` included."""
    wait_for(lambda: stack.api("GET", f"/api/runs/{run_id}").json()["state"] in FINISHED,
             timeout=timeout, what=f"run {run_id} to finish")
    return dict(stack.api("GET", f"/api/runs/{run_id}").json())


def save(stack: Stack, patch: dict[str, Any]) -> dict[str, Any] | None:
    """PATCH the settings; the run a (first) save started, finished, if there was one."""
    answer = stack.api("PATCH", "/api/settings", patch)
    assert answer.status_code == 200, answer.text
    run_id = answer.json().get("run_id")
    return finished(stack, run_id) if run_id else None


def sync(stack: Stack, **body: Any) -> dict[str, Any]:
    answer = stack.api("POST", "/api/sync", body)
    assert answer.status_code == 202, answer.text
    return finished(stack, answer.json()["run_id"])


def synced(stack: Stack, patch: dict[str, Any] | None = None) -> dict[str, Any]:
    """Connected, users (and whatever `patch` adds) saved, the first sync done."""
    stack.connect()
    first = save(stack, {"users": {"enabled": True}} | (patch or {}))
    assert first is not None and first["state"] == "succeeded", first
    return first


def part(run: dict[str, Any], name: str) -> dict[str, Any]:
    """One part of a run record (the record itself when it has no `parts`)."""
    return dict(run.get("parts", {}).get(name, run))


def refused(answer: Any, reason: str) -> bool:
    return bool(answer.status_code == 409 and answer.json().get("reason") == reason)


def graph_of(stack: Stack) -> GraphClient:
    return graph_client(stack.settings, **stack.credentials)


def deliveries(stack: Stack) -> int:
    return sum(1 for d in list(stack.sandbox.notifier.delivered)
               if d["url"].endswith("/graph/notifications"))


def change_users(stack: Stack, changes: dict[str, dict[str, Any]]) -> None:
    """Real Graph writes, and wait until their change notifications reached the webhook."""
    before, graph = deliveries(stack), graph_of(stack)
    for user_id, body in changes.items():
        graph.request("PATCH", f"users/{user_id}", json=body)
    wait_for(lambda: deliveries(stack) > before, timeout=20, what="the change notifications")


def extensions(stack: Stack) -> dict[int, dict[str, Any]]:
    return copy.deepcopy(dict(stack.sandbox.pbx_store.extensions))


def linked_member(stack: Stack, index: int = 0) -> str:
    links = stack.app.extensions["state"].user_links()
    users = stack.sandbox.graph_store.users.items.values()
    return [u["id"] for u in users if u["id"] in links and u["accountEnabled"]][index]


def run_ids(stack: Stack) -> list[str]:
    return [r["id"] for r in stack.runs()]


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """`flask --app webhook sync ...` with the stack's environment (no ENTRA_* credentials)."""
    return subprocess.run([sys.executable, "-m", "flask", "--app", "webhook", "sync", *args],
                          cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=50)


# 1. the deletion guard counts phonebooks and contacts -------------------------------------
def test_turning_personal_contacts_off_past_the_deletion_limit_is_blocked_until_allowed(
        stack: Stack) -> None:
    synced(stack)
    contacts_on = save(stack, {"contacts": {"personal": {"enabled": True},
                                            "shared": {"enabled": True}}})
    assert contacts_on is not None and contacts_on["state"] == "succeeded", contacts_on
    store, graph_store = stack.sandbox.pbx_store, stack.sandbox.graph_store
    shared = {graph_store.users.items[uid]["displayName"]
              for uid, s in graph_store.mailbox_settings.items()
              if s.get("userPurpose") == "shared" and uid in graph_store.users.items}
    books_before = {b["id"]: (b["name"], frozenset(b["contacts"]))
                    for b in store.phonebooks.values()}
    contacts_before = set(store.contacts)
    personal = {bid: book for bid, book in books_before.items()
                if book[0] not in shared | {DEFAULT_PHONEBOOK}}
    personal_contacts = set().union(*(members for _, members in personal.values()))
    assert len(personal) >= 2 and personal_contacts, "the seed gives personal phonebooks"

    save(stack, {"contacts": {"personal": {"enabled": False}},
                 "safety": {"max_deletions": len(personal)}})  # the books fit, contacts do not
    blocked = sync(stack, scope="contacts")

    contacts = part(blocked, "contacts")
    held = contacts["held_deletions"]
    assert blocked["state"] == "blocked" and contacts["state"] == "blocked", blocked["summary"]
    assert {b["id"]: (b["name"], frozenset(b["contacts"]))
            for b in store.phonebooks.values()} == books_before
    assert set(store.contacts) == contacts_before
    assert sorted(h["name"] for h in held if h["kind"] == "phonebook") == sorted(
        name for name, _ in personal.values())
    assert sum(1 for h in held if h["kind"] == "contact") == len(personal_contacts)
    assert {h["kind"] for h in held} == {"phonebook", "contact"}

    allowed = sync(stack, scope="contacts", allow_deletions=True)

    assert allowed["state"] == "succeeded", allowed["summary"]
    assert sorted(b["name"] for b in store.phonebooks.values()) == sorted(
        {DEFAULT_PHONEBOOK} | {name for name, _ in books_before.values() if name in shared})
    assert set(store.contacts) == contacts_before - personal_contacts


# 2. every part is off until its settings are first saved ----------------------------------
def test_user_sync_stays_off_until_its_settings_are_first_saved(stack: Stack) -> None:
    stack.connect()
    user = next(u for u in stack.sandbox.graph_store.users.items.values() if u["accountEnabled"])

    change_users(stack, {user["id"]: {"jobTitle": "Early Bird"}})
    send(make_broker(stack.env["REDIS_URL"]), RECONCILE, "schedule")
    time.sleep(QUIET_SECONDS)

    assert stack.sandbox.pbx_store.extensions == {}
    assert stack.sandbox.pbx_control.requests.get(f"POST {EXT_CREATE}", 0) == 0
    assert stack.api("GET", "/api/settings").json()["users"]["enabled"] is False
    assert refused(stack.api("POST", "/api/sync", {"scope": "users"}), "not_configured")
    assert refused(stack.api("POST", "/api/sync", {"scope": "all"}), "not_configured")


# 3. lost state closes everything ---------------------------------------------------------
def test_lost_settings_and_flags_stop_every_part_and_ask_for_a_new_save(stack: Stack) -> None:
    synced(stack)
    before = extensions(stack)
    leaver, changed = linked_member(stack, 0), linked_member(stack, 1)

    stack.redis.delete("eps:settings", "eps:integration")

    assert refused(stack.api("POST", "/api/sync", {}), "not_configured")
    attention = stack.api("GET", "/api/status").json().get("attention", [])
    assert any("saved again" in item for item in attention), attention
    change_users(stack, {leaver: {"accountEnabled": False}, changed: {"jobTitle": "Unseen"}})
    send(make_broker(stack.env["REDIS_URL"]), RECONCILE, "schedule")
    time.sleep(QUIET_SECONDS)
    assert extensions(stack) == before


# 4. a run whose writes partly failed ------------------------------------------------------
def test_a_run_with_refused_writes_ends_partial_and_says_so(stack: Stack) -> None:
    stack.connect()
    # an errcode answer is final: the client does not retry it away
    stack.sandbox.pbx_control.faults.append(Fault(path=EXT_CREATE, status=200, errcode=-1,
                                                  count=2))

    run = save(stack, {"users": {"enabled": True}})

    assert run is not None and run["state"] == "partial", run and run["summary"]
    assert run["counts"]["failed"] == 2 and len(run["failures"]) == 2
    assert re.match(r"Synced \d+ users to PBX extensions with 2 failures", run["summary"])
    assert "Successfully" not in run["summary"]
    assert len(stack.sandbox.pbx_store.extensions) == run["counts"]["created"] > 0


# 5. scope all is one run with a part per enabled sync -------------------------------------
def test_sync_all_answers_one_run_with_a_part_per_enabled_sync(stack: Stack) -> None:
    synced(stack, {"groups": {"enabled": True}})
    wait_for(lambda: all(r["state"] in FINISHED for r in stack.runs()), timeout=30,
             what="the first save's runs")
    before = run_ids(stack)

    run = sync(stack, scope="all")
    time.sleep(2)  # room for a second record, should one be made

    assert set(run.get("parts", {})) == {"users", "groups"}, run
    for name in ("users", "groups"):
        assert run["parts"][name]["state"] == "succeeded" and "created" in run["parts"][name][
            "counts"]
    assert run["counts"]["created"] == sum(p["counts"]["created"] for p in run["parts"].values())
    assert [i for i in run_ids(stack) if i not in before] == [run["id"]]


# 6. connecting another tenant -------------------------------------------------------------
def move_to_another_tenant(stack: Stack) -> dict[str, str]:
    """The simulator now answers for a new tenant (and not the old one): the app's credentials
    are valid there, so the credentials check cannot be what refuses the connection."""
    other = str(uuid.uuid4())
    stack.sandbox.graph_store.tenant_id = other
    return stack.credentials | {"tenant_id": other}


def test_connecting_another_tenant_is_refused_while_links_exist(stack: Stack) -> None:
    synced(stack)
    links = len(stack.app.extensions["state"].user_links())

    answer = stack.api("PUT", "/api/connection", move_to_another_tenant(stack))

    assert refused(answer, "other_tenant"), (answer.status_code, answer.text)
    assert len(stack.app.extensions["state"].user_links()) == links > 0


def test_releasing_links_to_connect_another_tenant_deletes_nothing(stack: Stack) -> None:
    synced(stack, {"groups": {"enabled": True}})
    wait_for(lambda: all(r["state"] in FINISHED for r in stack.runs()), timeout=30,
             what="the first save's runs")
    before, status = extensions(stack), stack.api("GET", "/api/status").json()
    assert status["users"]["synced"] > 0 and status["groups"]["synced"] > 0
    assert stack.redis.keys("eps:delta:*") and stack.redis.keys("eps:settings:saved:*")

    answer = stack.api("PUT", "/api/connection",
                       move_to_another_tenant(stack) | {"release_links": True})
    time.sleep(3)  # the subscriptions' upkeep, and anything a worker might start

    status = stack.api("GET", "/api/status").json()
    assert answer.status_code == 200, answer.text
    assert status["users"]["synced"] == 0 and status["groups"]["synced"] == 0
    assert stack.redis.keys("eps:delta:*") == [] and stack.redis.keys("eps:settings:saved:*") == []
    assert extensions(stack) == before
    assert stack.sandbox.pbx_control.requests.get(EXT_DELETE, 0) == 0


# 7. the CLI goes through the engine -------------------------------------------------------
def test_sync_command_uses_the_stored_connection_and_records_its_run(stack: Stack) -> None:
    synced(stack)
    stack.kill(stack.workers[0])  # only the command may sync now
    user = linked_member(stack)
    change_users(stack, {user: {"jobTitle": "Shell Sync"}})
    before = run_ids(stack)

    result = cli(stack, "--scope", "users")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Successfully synced" in result.stdout
    ext_id = stack.app.extensions["state"].user_links()[user].ext_id
    assert stack.sandbox.pbx_store.extensions[ext_id]["title"] == "Shell Sync"
    new = [r for r in stack.runs() if r["id"] not in before]
    assert [r["state"] for r in new] == ["succeeded"], new


def test_sync_command_exits_1_with_the_reason_while_user_sync_is_paused(stack: Stack) -> None:
    synced(stack)
    before = extensions(stack)
    assert stack.api("POST", "/api/user-sync/pause", {"delete_extensions": False}).ok

    result = cli(stack, "--scope", "users")

    assert result.returncode == 1
    assert "paused" in (result.stdout + result.stderr).lower(), result.stdout + result.stderr
    assert extensions(stack) == before


def test_sync_command_exits_1_when_the_run_ends_partial(stack: Stack) -> None:
    synced(stack)
    stack.kill(stack.workers[0])
    change_users(stack, {linked_member(stack, 0): {"jobTitle": "Refused"},
                         linked_member(stack, 1): {"jobTitle": "Accepted"}})
    stack.sandbox.pbx_control.faults.append(Fault(path=EXT_UPDATE, status=200, errcode=-1,
                                                  count=1))

    result = cli(stack, "--scope", "users")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "with 1 failure" in result.stdout, result.stdout + result.stderr
    assert stack.runs()[0]["state"] == "partial"


def test_deletions_allowed_from_the_command_line_are_in_the_audit_log(stack: Stack) -> None:
    synced(stack)
    stack.kill(stack.workers[0])  # only the command may sync now

    result = cli(stack, "--scope", "users", "--allow-deletions")
    entries = stack.api("GET", "/api/audit?action=deletions_allowed").json()["entries"]

    assert result.returncode == 0, result.stdout + result.stderr
    ran = next(r for r in stack.runs() if r["trigger"] == "cli")
    assert [(e["actor"], e["details"]) for e in entries] == [
        ("command line (flask sync)", {"scope": "users", "run_id": ran["id"]})]
