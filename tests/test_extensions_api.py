"""`GET /api/extensions`: the synced extensions with their Entra user and presence choice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from core.presence.plan import DEFAULT_MAP
from tests.stack import Stack, synced_stack


@pytest.fixture(scope="module")
def stack(redis_server: Any) -> Iterator[Stack]:
    with synced_stack(redis_server.url, users=8, settings={}) as running:
        yield running


def listed(stack: Stack, query: str = "") -> list[dict[str, Any]]:
    answer = stack.api("GET", f"/api/extensions{query}")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["extensions"])


def test_every_synced_extension_is_listed_by_number_with_its_user_and_presence(
        stack: Stack) -> None:
    links = stack.app.extensions["state"].user_links()
    on_pbx = {e["number"] for e in stack.sandbox.pbx_store.extensions.values()}

    shown = listed(stack)

    assert [e["number"] for e in shown] == sorted(link.number for link in links.values())
    assert {e["number"] for e in shown} <= on_pbx
    first = shown[0]
    link = next(link for link in links.values() if link.number == first["number"])
    user = stack.sandbox.graph_store.users.items[link.user_id]
    assert first["user_id"] == link.user_id and first["name"] == user["displayName"]
    first_sync = next(r for r in stack.runs() if r["trigger"] == "first save")
    assert first["synced_at"] == first_sync["finished_at"]  # the last full user sync
    assert first["presence"] == {"enabled": True, "map": DEFAULT_MAP}
    assert set(first) == {"number", "user_id", "name", "synced_at", "presence"}


def test_a_presence_choice_shows_in_the_list(stack: Stack) -> None:
    number = listed(stack)[1]["number"]
    saved = stack.api("PUT", f"/api/extensions/{number}/presence",
                      {"enabled": False, "map": {"Busy": "business_trip"}})
    assert saved.status_code == 200, saved.text

    entry = next(e for e in listed(stack) if e["number"] == number)

    assert entry["presence"] == {"enabled": False,
                                 "map": DEFAULT_MAP | {"Busy": "business_trip"}}
    assert entry["presence"] == stack.api("GET", f"/api/extensions/{number}/presence").json()


def test_q_finds_extensions_by_number_or_by_name(stack: Stack) -> None:
    everything = listed(stack)
    target = everything[2]
    surname = target["name"].split()[-1]

    by_number = listed(stack, f"?q={target['number']}")
    by_name = listed(stack, f"?q={surname.upper()}")

    assert [e["number"] for e in by_number] == [target["number"]]
    assert target in by_name
    assert all(surname.lower() in e["name"].lower() or surname in e["number"] for e in by_name)
    assert listed(stack, "?q=no-such-extension-anywhere") == []


def test_the_list_answers_only_the_admin(stack: Stack) -> None:
    assert requests.get(f"{stack.web.url}/api/extensions", timeout=10).status_code == 401


def test_a_long_list_comes_in_pages(stack: Stack) -> None:
    every = listed(stack)

    first = stack.api("GET", "/api/extensions?limit=3").json()
    second = stack.api("GET", "/api/extensions?limit=3&offset=3").json()

    assert [e["number"] for e in first["extensions"] + second["extensions"]] == [
        e["number"] for e in every[:6]]
    assert first["matched"] == first["total"] == len(every) and first["limit"] == 3
