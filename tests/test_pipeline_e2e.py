"""The event pipeline end to end: Graph writes → notifications → webhook → Dramatiq → PBX.

Real redis-server, real `dramatiq` worker processes, the web app on a real port, the sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from core.clients import graph_client
from core.graph import GraphClient
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.stack import Stack, wait_for


@pytest.fixture
def stack(redis_server: Any, request: pytest.FixtureRequest) -> Iterator[Stack]:
    options = getattr(request, "param", {})
    with Sandbox() as sandbox:
        seed_tenant(sandbox.graph_store, options.get("users", 30))
        client = __import__("redis").Redis.from_url(redis_server.url)
        client.flushdb()
        running = Stack(sandbox, redis_server.url, window=options.get("window", 2),
                        max_changes=options.get("max_changes", 10))
        try:
            yield running
        finally:
            running.stop()
            client.flushdb()


def members(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [u for u in sandbox.graph_store.users.items.values()
            if u["accountEnabled"] and u["userType"] == "Member"]


def graph_of(stack: Stack) -> GraphClient:
    return graph_client(stack.settings, **stack.credentials)


def first_sync(stack: Stack) -> dict[str, Any]:
    stack.start_worker()
    stack.connect()
    answer = stack.api("PATCH", "/api/settings", {"users": {"enabled": True}})
    assert answer.status_code == 200 and "run_id" in answer.json()
    return stack.run(answer.json()["run_id"])


def title_of(stack: Stack, user_id: str) -> str:
    link = stack.app.extensions["state"].user_links()[user_id]
    ext = stack.sandbox.pbx_store.extensions.get(link.ext_id)
    return str(ext["title"]) if ext else ""


def test_patched_user_reaches_the_pbx_through_notifications(stack: Stack) -> None:
    assert first_sync(stack)["state"] == "succeeded"
    user = members(stack.sandbox)[0]

    graph_of(stack).request("PATCH", f"users/{user['id']}", json={"jobTitle": "Night Owl"})

    wait_for(lambda: title_of(stack, user["id"]) == "Night Owl", timeout=30,
             what="the new title on the PBX")
    changed = [r for r in stack.runs() if r["trigger"] == "changes:users"]
    assert changed and changed[0]["mode"] == "incremental"
