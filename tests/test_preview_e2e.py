"""Previews of unsaved settings over real HTTP: a dry run of the proposed document, through
the worker and the engine, that saves nothing and says what a save would do."""

from __future__ import annotations

from typing import Any

from core.store.redis import StateStore
from tests.stack import Stack
from tests.test_run_objects_e2e import connected_stack, objects, turn_users_on


def preview(stack: Stack, patch: dict[str, Any]) -> dict[str, Any]:
    queued = stack.api("POST", "/api/settings/preview", patch)
    assert queued.status_code == 202, queued.text
    return stack.run(queued.json()["run_id"])


def test_a_preview_of_turning_users_on_lists_the_creates_and_saves_nothing(
        redis_server: Any) -> None:
    with connected_stack(redis_server.url, users=12) as stack:
        before = stack.api("GET", "/api/settings").json()

        run = preview(stack, {"users": {"enabled": True}})

        created = run["counts"]["created"]
        assert run["trigger"] == "preview" and run["dry_run"] and run["state"] == "succeeded"
        assert created > 0
        assert run["preview"][0] == f"{created} extensions will be created (1000\u2013{999 + created})"
        assert "0 extensions will be deleted" in run["preview"]
        rows = objects(stack, run["id"])["objects"]
        assert len(rows) >= created and all(r["planned"] for r in rows)
        assert sorted(r["extension"] for r in rows if r["outcome"] == "created") == [
            str(n) for n in range(1000, 1000 + created)]
        assert stack.api("GET", "/api/settings").json() == before
        assert stack.sandbox.pbx_store.extensions == {}
        state = StateStore(stack.redis)
        assert state.user_links() == {} and "users" not in state.saved_parts()
        refused = stack.api("POST", "/api/sync", {"scope": "users"})
        assert refused.status_code == 409 and refused.json()["reason"] == "not_configured"


def test_a_preview_of_a_narrower_range_reports_the_releases(redis_server: Any) -> None:
    with connected_stack(redis_server.url, users=30) as stack:
        first = turn_users_on(stack)
        store = stack.sandbox.graph_store
        group_id = max(store.members, key=lambda g: len(store.members[g]))
        state = StateStore(stack.redis)
        links, before = state.user_links(), stack.api("GET", "/api/settings").json()
        leaving = [uid for uid in links if uid not in store.transitive_members(group_id)]

        run = preview(stack, {"users": {"range": "groups", "group_ids": [group_id]}})

        released = objects(stack, run["id"], outcome="released")["objects"]
        assert first["state"] == "succeeded" and leaving
        assert sorted(r["object_id"] for r in released) == sorted(leaving)
        assert all(r["reason"] == "no longer in the sync range" for r in released)
        assert any(s.startswith(f"{len(leaving)} extension{'s' if len(leaving) > 1 else ''} "
                                "will be released (kept on the PBX, no longer synced): ")
                   for s in run["preview"])
        assert state.user_links() == links and stack.api("GET", "/api/settings").json() == before
        assert len(stack.sandbox.pbx_store.extensions) == first["counts"]["created"]


def test_a_preview_is_refused_as_a_save_or_a_sync_would_be(redis_server: Any) -> None:
    with connected_stack(redis_server.url, users=12) as stack:
        turn_users_on(stack)

        off = stack.api("POST", "/api/settings/preview", {"users": {"enabled": False}})
        invalid = stack.api("POST", "/api/settings/preview", {"users": {"range": "some"}})
        disabled = stack.api("POST", "/api/integration/disable", {})
        assert disabled.status_code in (200, 202), disabled.text
        refused = stack.api("POST", "/api/settings/preview", {"safety": {"max_deletions": 3}})

        assert off.status_code == 409 and off.json()["reason"] == "off"
        assert invalid.status_code == 400 and "users.range" in str(invalid.json()["fields"])
        assert refused.status_code == 409 and refused.json()["reason"] == "disabled"
        assert "error" in refused.json()
