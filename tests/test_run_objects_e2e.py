"""Per-object results of runs over real HTTP: the web app, a Dramatiq worker, the sandbox and
a real redis-server; what is listed is checked against what the PBX simulator holds."""

from __future__ import annotations

import csv
import io
from typing import Any

from core.store.redis import StateStore
from core.store.runs import RUNS_KEPT
from sandbox.runner import Sandbox
from tests.conftest import Control
from tests.stack import Stack, started_stack

CREATE = "/openapi/v1.0/extension/create"


def connected_stack(redis_url: str, *, users: int) -> Any:
    """A stack with one worker, connected to a seeded tenant; no sync part saved yet."""
    return started_stack(redis_url, users=users)


def turn_users_on(stack: Stack, **users: Any) -> dict[str, Any]:
    """The first save of user sync, and the run it starts, finished."""
    saved = stack.api("PATCH", "/api/settings", {"users": {"enabled": True} | users})
    assert saved.status_code == 200, saved.text
    return stack.run(saved.json()["run_id"])


def objects(stack: Stack, run_id: str, **query: Any) -> dict[str, Any]:
    answer = stack.http.get(f"{stack.web.url}/api/runs/{run_id}/objects", params=query,
                            timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def active_members(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return {u["id"]: u for u in sandbox.graph_store.users.items.values()
            if u["accountEnabled"] and u["userType"] == "Member"}


def pbx_emails(sandbox: Sandbox) -> set[str]:
    return {str(e.get("email_addr", "")).lower() for e in sandbox.pbx_store.extensions.values()}


def test_a_first_sync_lists_every_extension_created_and_finds_them_by_search(
        redis_server: Any) -> None:
    with connected_stack(redis_server.url, users=12) as stack:
        run = turn_users_on(stack)
        listed = objects(stack, run["id"])
        by_number = {e["number"]: e for e in stack.sandbox.pbx_store.extensions.values()}

        created = [r for r in listed["objects"] if r["outcome"] == "created"]
        assert created and listed["total"] == listed["matched"] == run["objects_total"]
        assert len(created) == run["counts"]["created"] == len(by_number)
        for row in created:
            assert row["part"] == "users" and row["planned"] is False
            assert by_number[row["extension"]]["first_name"]  # a real extension, by number
        someone = created[3]
        found = objects(stack, run["id"], q=someone["name"].upper())
        assert someone in found["objects"] and found["total"] == listed["total"]
        assert objects(stack, run["id"], q=someone["extension"])["objects"][0] == someone
        assert objects(stack, run["id"], outcome="failed,held")["matched"] == 0
        page = objects(stack, run["id"], offset=2, limit=3)
        assert page["objects"] == listed["objects"][2:5] and page["limit"] == 3
        unknown = stack.api("GET", "/api/runs/no-such-run/objects")
        assert unknown.status_code == 404
        runs = stack.api("GET", "/api/runs?part=users&state=succeeded").json()["runs"]
        assert [r["id"] for r in runs] == [run["id"]]
        assert runs[0]["objects_total"] == run["objects_total"] and "created_at" in runs[0]
        assert stack.api("GET", "/api/runs?part=groups").json()["runs"] == []


def test_a_create_the_pbx_refuses_is_listed_failed_against_its_own_user(
        redis_server: Any) -> None:
    with connected_stack(redis_server.url, users=12) as stack:
        Control(stack.sandbox.pbx.url).fault(path=CREATE, method="POST", status=200,
                                             errcode=40002, skip=2, count=1)
        run = turn_users_on(stack)

        failed = objects(stack, run["id"], outcome="failed")["objects"]
        assert run["state"] == "partial" and len(failed) == 1
        user = stack.sandbox.graph_store.users.items[failed[0]["object_id"]]
        assert failed[0]["name"] == user["displayName"] and "40002" in failed[0]["reason"]
        assert user["mail"].lower() not in pbx_emails(stack.sandbox)
        created = objects(stack, run["id"], outcome="created")["objects"]
        assert {r["object_id"] for r in created} & {failed[0]["object_id"]} == set()
        assert all(stack.sandbox.graph_store.users.items[r["object_id"]]["mail"].lower()
                   in pbx_emails(stack.sandbox) for r in created)


def test_the_csv_download_holds_every_match_and_defuses_formulas(redis_server: Any) -> None:
    with connected_stack(redis_server.url, users=12) as stack:
        store = stack.sandbox.graph_store
        victim = next(iter(active_members(stack.sandbox).values()))
        victim["displayName"] = '=HYPERLINK("http://evil.example","click")'
        run = turn_users_on(stack)

        answer = stack.http.get(f"{stack.web.url}/api/runs/{run['id']}/objects",
                                params={"format": "csv"}, timeout=30)

        assert answer.headers["Content-Type"].startswith("text/csv")
        assert answer.headers["Content-Disposition"] == (
            f'attachment; filename="run-{run["id"]}.csv"')
        assert answer.content.startswith(b"\xef\xbb\xbf")  # UTF-8 for spreadsheets
        table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert table[0] == ["part", "outcome", "name", "object_id", "extension", "reason"]
        assert len(table) - 1 == run["objects_total"]
        row = next(r for r in table if r[3] == victim["id"])
        assert row[2] == "'" + store.users.items[victim["id"]]["displayName"]
        only = stack.http.get(f"{stack.web.url}/api/runs/{run['id']}/objects",
                              params={"format": "csv", "q": "hyperlink"}, timeout=30)
        assert len(list(csv.reader(io.StringIO(only.content.decode("utf-8-sig"))))) == 2


def test_deletions_past_the_limit_are_listed_held(redis_server: Any) -> None:
    with connected_stack(redis_server.url, users=12) as stack:
        turn_users_on(stack)
        limited = stack.api("PATCH", "/api/settings", {"safety": {"max_deletions": 0}})
        assert limited.status_code == 200, limited.text
        gone = list(active_members(stack.sandbox))[:3]
        with stack.sandbox.graph_store.lock:
            for user_id in gone:
                stack.sandbox.graph_store.soft_delete_user(user_id)

        queued = stack.api("POST", "/api/sync", {"scope": "users"})
        run = stack.run(queued.json()["run_id"])

        held = objects(stack, run["id"], outcome="held")["objects"]
        assert run["state"] == "blocked"
        assert sorted(r["object_id"] for r in held) == sorted(gone)
        assert all(r["reason"].startswith("more than safety.max_deletions (0) deletions in "
                                          "one run") for r in held)
        assert all(r["extension"] for r in held)


def test_the_objects_of_a_run_go_with_its_record(redis_server: Any) -> None:
    with connected_stack(redis_server.url, users=12) as stack:
        first = turn_users_on(stack)
        state = StateStore(stack.redis)
        assert stack.redis.exists(state.keys.run_objects(first["id"]))

        for _ in range(RUNS_KEPT):
            queued = stack.api("POST", "/api/sync", {"scope": "users", "dry_run": True})
            assert queued.status_code == 202

        assert stack.api("GET", f"/api/runs/{first['id']}/objects").status_code == 404
        assert not stack.redis.exists(state.keys.run_objects(first["id"]))
