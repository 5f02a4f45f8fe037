"""Sign-in with Microsoft (S1, S2) and `/me` (P2 self-service), through the running stack."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.stack import Stack, browser, form_post_fields, synced_stack


@pytest.fixture
def stack(redis_server: Any) -> Iterator[Stack]:
    with synced_stack(redis_server.url, users=20, settings={}) as running:
        yield running


def sign_in(stack: Stack, upn: str) -> tuple[requests.Session, requests.Response]:
    session = browser(stack)
    entra_page = session.get(f"{stack.web.url}/sso/login", params={"login_hint": upn}, timeout=30)
    return session, session.post(f"{stack.web.url}/sso/callback",
                                 data=form_post_fields(entra_page.text), timeout=30)


def synced_user(stack: Stack) -> dict[str, Any]:
    links = stack.app.extensions["state"].user_links()
    return next(u for u in stack.sandbox.graph_store.users.items.values() if u["id"] in links)


def enable_sso(stack: Stack, **sso: Any) -> None:
    answer = stack.api("PATCH", "/api/settings", {"sso": {"enabled": True, **sso}})
    assert answer.status_code == 200, answer.text


def test_a_synced_user_signs_in_and_sets_their_own_presence_map(stack: Stack) -> None:
    user = synced_user(stack)
    group = next(iter(stack.sandbox.graph_store.groups.items))
    admin = user["id"] in stack.sandbox.graph_store.transitive_members(group)
    enable_sso(stack, admin_group_ids=[group])
    number = stack.app.extensions["state"].user_links()[user["id"]].number

    session, landing = sign_in(stack, user["userPrincipalName"])
    page = session.get(f"{stack.web.url}/me", timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    saved = session.post(f"{stack.web.url}/me/presence", timeout=30, data={
        "csrf": csrf, "enabled": "1", "map.Busy": "business_trip"})
    as_admin = session.get(f"{stack.web.url}/api/status", timeout=30,
                           headers={"X-Requested-With": "fetch"})

    assert landing.url == stack.web.url + ("/" if admin else "/me")  # admins: the console
    assert page.status_code == 200 and number in page.text
    assert ("Open the admin console" in page.text) is admin
    assert saved.status_code == 200 and "Saved." in saved.text
    preference = stack.api("GET", f"/api/extensions/{number}/presence").json()
    assert preference["map"]["Busy"] == "business_trip" and preference["enabled"] is True
    shown = session.get(f"{stack.web.url}/me", timeout=30).text  # the page shows what was saved
    assert re.search(r'name="map\.Busy">.*?value="business_trip"\s+selected', shown, re.S)
    # "no change" only where the map has no default, so that choosing it keeps what it says
    assert shown.count('<option value="">no change</option>') == 1
    assert as_admin.status_code == (200 if admin else 401)
    assert session.get(f"{stack.web.url}/api/status", timeout=30).status_code == 401  # no header


def test_an_unsynced_user_is_refused(stack: Stack) -> None:
    enable_sso(stack)
    store = stack.sandbox.graph_store
    with store.lock:
        newcomer = store.put_user({"displayName": "Not Synced", "givenName": "Not",
                                   "surname": "Synced", "userPrincipalName": "not.synced@contoso.com",
                                   "mail": "not.synced@contoso.com", "accountEnabled": True,
                                   "userType": "Member", "businessPhones": []})

    _, page = sign_in(stack, newcomer["userPrincipalName"])

    assert page.status_code == 403 and "not synced" in page.text


def test_disabling_the_integration_closes_sign_in_and_sessions(stack: Stack) -> None:
    enable_sso(stack)
    session, page = sign_in(stack, synced_user(stack)["userPrincipalName"])
    assert page.status_code == 200

    stack.api("POST", "/api/integration/disable", {})

    assert session.get(f"{stack.web.url}/sso/login", timeout=30).status_code == 403
    me = session.get(f"{stack.web.url}/me", timeout=30, allow_redirects=False)
    assert me.status_code == 302 and me.headers["Location"].endswith("/sso/login")


def test_sign_in_is_closed_while_sso_is_off(stack: Stack) -> None:
    answer = browser(stack).get(f"{stack.web.url}/sso/login", timeout=30)

    assert answer.status_code == 403 and "turned off" in answer.text
