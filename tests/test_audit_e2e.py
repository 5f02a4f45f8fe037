"""The audit log (`GET /api/audit`): who changed what, through the running stack."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from core.store.audit import KEPT, AuditLog
from core.store.redis import StateStore
from tests.stack import ADMIN_TOKEN, Stack, browser, form_post_fields, synced_stack


@pytest.fixture(scope="module")
def stack(redis_server: Any) -> Iterator[Stack]:
    with synced_stack(redis_server.url, users=6, settings={}) as running:
        yield running


def entries(stack: Stack, action: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = f"?limit={limit}" + (f"&action={action}" if action else "")
    answer = stack.api("GET", f"/api/audit{query}")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["entries"])


def test_a_settings_change_is_recorded_field_by_field(stack: Stack) -> None:
    answer = stack.api("PATCH", "/api/settings", {"safety": {"max_deletions": 40},
                                                  "users": {"numbering": {"start": "2000"}}})
    assert answer.status_code == 200, answer.text

    entry = entries(stack, "settings")[0]

    assert entry["actor"] == "admin token" and entry["source"] == "127.0.0.1"
    assert dt.datetime.fromisoformat(entry["at"]).tzinfo is not None
    assert sorted(entry["details"]["changes"], key=lambda c: c["field"]) == [
        {"field": "safety.max_deletions", "old": 50, "new": 40},
        {"field": "users.numbering.start", "old": "1000", "new": "2000"}]
    assert set(entry) == {"at", "actor", "action", "details", "source"}


def test_a_change_through_the_admin_pages_session_is_the_admin_tokens(stack: Stack) -> None:
    page = requests.Session()
    page.trust_env = False
    opened = page.post(f"{stack.web.url}/api/session", json={"token": ADMIN_TOKEN}, timeout=10)
    assert opened.status_code == 204, opened.text

    changed = page.patch(f"{stack.web.url}/api/settings", json={"safety": {"max_deletions": 45}},
                         headers={"X-Requested-With": "fetch"}, timeout=10)

    assert changed.status_code == 200, changed.text
    entry = entries(stack, "settings")[0]
    assert entry["actor"] == "admin token"
    assert entry["details"]["changes"][0]["field"] == "safety.max_deletions"


def test_a_list_setting_is_compared_whole_and_a_save_that_changes_nothing_is_not(
        stack: Stack) -> None:
    stack.api("PATCH", "/api/settings", {"users": {"delete_when": ["deleted"]}})
    stack.api("PATCH", "/api/settings", {"users": {"delete_when": ["deleted"]}})

    recorded = [e for e in entries(stack, "settings")
                if any(c["field"] == "users.delete_when" for c in e["details"]["changes"])]

    assert len(recorded) == 1
    assert recorded[0]["details"]["changes"] == [
        {"field": "users.delete_when", "old": ["disabled", "deleted"], "new": ["deleted"]}]


def test_connecting_and_rotating_the_secret_are_recorded_without_the_secret(
        stack: Stack) -> None:
    rotated = stack.api("POST", "/api/connection/secret", {
        "client_secret": stack.credentials["client_secret"],
        "client_secret_expires_at": "2027-11-24T00:00:00Z"})
    assert rotated.status_code == 200, rotated.text

    connect = entries(stack, "connect")[-1]  # the first connection of the stack
    rotation = entries(stack, "secret_rotated")[0]
    body = stack.api("GET", "/api/audit?limit=2000").text

    assert connect["details"]["tenant_id"] == stack.credentials["tenant_id"]
    assert connect["details"]["client_id"] == stack.credentials["client_id"]
    assert rotation["details"] == {"expires_at": "2027-11-24T00:00:00Z"}
    assert stack.credentials["client_secret"] not in body


def test_pause_resume_disable_and_enable_are_recorded_with_their_options(stack: Stack) -> None:
    for path, sent in (("/api/user-sync/pause", {"delete_extensions": False}),
                       ("/api/user-sync/resume", None),
                       ("/api/group-sync/pause", {"delete_groups": False}),
                       ("/api/group-sync/resume", None),
                       ("/api/integration/disable", {"delete_extensions": False,
                                                     "delete_groups": False}),
                       ("/api/integration/enable", None)):
        answer = stack.api("POST", path, sent)
        assert answer.status_code == 200, (path, answer.text)

    recent = entries(stack, limit=6)

    assert [e["action"] for e in reversed(recent)] == [
        "user_sync_paused", "user_sync_resumed", "group_sync_paused", "group_sync_resumed",
        "integration_disabled", "integration_enabled"]
    paused, disabled = recent[5], recent[1]
    assert paused["details"]["delete_extensions"] is False
    assert disabled["details"] | {"run_id": None} == {
        "delete_extensions": False, "delete_groups": False, "run_id": None}


def test_an_allowed_deletions_run_is_recorded_and_an_ordinary_one_is_not(stack: Stack) -> None:
    before = len(entries(stack, "deletions_allowed"))
    ordinary = stack.api("POST", "/api/sync", {"scope": "users"})
    allowed = stack.api("POST", "/api/sync", {"scope": "users", "allow_deletions": True})
    assert ordinary.status_code == allowed.status_code == 202, allowed.text
    stack.run(allowed.json()["run_id"])

    recorded = entries(stack, "deletions_allowed")

    assert len(recorded) == before + 1
    assert recorded[0]["details"] | {"dry_run": False} == {
        "scope": "users", "run_id": allowed.json()["run_id"], "dry_run": False}


def test_an_admin_changing_an_extensions_presence_is_recorded(stack: Stack) -> None:
    number = sorted(link.number for link in stack.app.extensions["state"].user_links().values())[0]

    answer = stack.api("PUT", f"/api/extensions/{number}/presence",
                       {"enabled": False, "map": {"Busy": "do_not_disturb"}})
    assert answer.status_code == 200, answer.text

    entry = entries(stack, "extension_presence")[0]
    assert entry["actor"] == "admin token"
    assert entry["details"]["number"] == number and entry["details"]["enabled"] is False
    assert entry["details"]["map"] == {"Busy": "do_not_disturb"}


def test_presence_authorization_is_recorded_with_who_asked_and_who_signed_in(
        stack: Stack) -> None:
    admin = next(iter(stack.sandbox.graph_store.users.items.values()))
    begun = stack.api("POST", "/api/presence/authorization")
    assert begun.status_code == 200, begun.text
    session = browser(stack)
    entra = session.get(begun.json()["auth_uri"], timeout=30,
                        params={"login_hint": admin["userPrincipalName"]})
    done = session.post(f"{stack.web.url}/sso/callback", data=form_post_fields(entra.text),
                        timeout=30)
    assert done.status_code == 200, done.text
    revoked = stack.api("DELETE", "/api/presence/authorization")
    assert revoked.status_code == 200, revoked.text

    granted, gone = entries(stack, "presence_authorized")[0], entries(stack, "presence_revoked")[0]

    assert granted["actor"] == "admin token"  # who began it, not the callback's browser
    assert granted["details"] == {"account": admin["userPrincipalName"]}
    assert gone["details"] == {"account": admin["userPrincipalName"]}
    assert "cache" not in json.dumps([granted, gone])


def test_refused_changes_are_not_recorded(stack: Stack) -> None:
    before = entries(stack, limit=2000)

    bad = stack.api("PATCH", "/api/settings", {"safety": {"max_deletions": "many"}})
    unknown = stack.api("PUT", "/api/extensions/99999/presence", {"enabled": True})
    missing = stack.api("PUT", "/api/connection", {"tenant_id": "t"})

    assert (bad.status_code, unknown.status_code, missing.status_code) == (400, 404, 400)
    assert entries(stack, limit=2000) == before


def test_the_log_answers_only_the_admin(stack: Stack) -> None:
    anonymous = requests.get(f"{stack.web.url}/api/audit", timeout=10)
    wrong = requests.get(f"{stack.web.url}/api/audit", timeout=10,
                         headers={"Authorization": "Bearer not-the-token-at-all-0123456789"})

    assert anonymous.status_code == wrong.status_code == 401


def test_the_log_keeps_the_newest_entries_only(stack: Stack) -> None:
    state = StateStore(stack.redis, namespace="audit-bound-test")  # beside the stack's own
    log = AuditLog(state.redis, state.keys)
    for index in range(KEPT + 5):
        log.record({"at": str(index), "actor": "test", "action": "settings" if index % 2
                    else "connect", "details": {"index": index}, "source": "127.0.0.1"})

    kept = log.entries(limit=KEPT + 100)

    assert len(kept) == KEPT == state.redis.llen(state.keys.audit())
    assert kept[0]["details"]["index"] == KEPT + 4 and kept[-1]["details"]["index"] == 5
    assert [e["details"]["index"] for e in log.entries(limit=2, action="connect")] == [
        KEPT + 4, KEPT + 2]
    assert json.loads(state.redis.lindex(state.keys.audit(), 0))["at"] == str(KEPT + 4)
    state.redis.delete(state.keys.audit())
