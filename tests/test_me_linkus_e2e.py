"""`/me`: a synced user's Linkus login, and setting their own Linkus password on the PBX."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from core.clients import pbx_client
from core.errors import PbxError
from tests.conftest import Control
from tests.stack import Stack, browser, form_post_fields, synced_stack

GOOD = "Harbour7Lantern9Quill"


@pytest.fixture
def stack(redis_server: Any) -> Iterator[Stack]:
    with synced_stack(redis_server.url, users=6, settings={}) as running:
        answer = running.api("PATCH", "/api/settings", {"sso": {"enabled": True}})
        assert answer.status_code == 200, answer.text
        yield running


def signed_in(stack: Stack) -> tuple[requests.Session, dict[str, Any], str]:
    """A browser signed in as a synced user; the user and the /me page."""
    links = stack.app.extensions["state"].user_links()
    user = next(u for u in stack.sandbox.graph_store.users.items.values() if u["id"] in links)
    session = browser(stack)
    entra = session.get(f"{stack.web.url}/sso/login",
                        params={"login_hint": user["userPrincipalName"]}, timeout=30)
    page = session.post(f"{stack.web.url}/sso/callback", data=form_post_fields(entra.text),
                        timeout=30)
    assert page.status_code == 200 and page.url.endswith("/me"), page.text
    return session, user, page.text


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def result_of(page: str) -> str:
    """The sentence beside the password field."""
    found = re.search(r'id="password-result"[^>]*>([^<]*)</p>', page)
    return found.group(1) if found else ""


def extension_of(stack: Stack, user: dict[str, Any]) -> dict[str, Any]:
    link = stack.app.extensions["state"].user_links()[user["id"]]
    with stack.sandbox.pbx_store.lock:
        return dict(stack.sandbox.pbx_store.extensions[link.ext_id])


def set_password(stack: Stack, session: requests.Session, csrf: str, password: str,
                 confirm: str | None = None) -> requests.Response:
    return session.post(f"{stack.web.url}/me/linkus-password", timeout=30, data={
        "csrf": csrf, "password": password, "confirm": password if confirm is None else confirm})


def test_the_page_shows_the_linkus_login_and_keeps_the_presence_form(stack: Stack) -> None:
    _, user, page = signed_in(stack)
    number = extension_of(stack, user)["number"]

    assert f"<strong>{number}</strong>" in page
    assert "Linkus" in page and urlsplit(stack.settings.pbx_base_url).hostname in page
    assert 'action="/me/linkus-password"' in page and 'action="/me/presence"' in page
    assert "10 to 63 characters" in page
    assert "<script" not in page and "<style" not in page and "style=" not in page


def test_a_user_sets_their_linkus_password_on_their_extension(stack: Stack) -> None:
    session, user, page = signed_in(stack)

    answer = set_password(stack, session, csrf_of(page), GOOD)

    assert answer.status_code == 200 and result_of(answer.text) == "Your Linkus password is set."
    assert GOOD not in answer.text
    extension = extension_of(stack, user)
    assert extension["user_password"] == GOOD
    log = stack.api("GET", "/api/audit?action=linkus_password_set")
    entry = log.json()["entries"][0]
    assert entry["details"] == {"number": extension["number"]}
    assert entry["actor"] == f"{user['displayName']} <{user['id']}>"
    assert GOOD not in log.text and GOOD not in stack.api("GET", "/api/audit?limit=2000").text


@pytest.mark.parametrize(("password", "named"), [
    ("Short1a", "must be 10 to 63 characters long"),
    ("alllowercase12x", "must contain an upper-case letter"),
    ("Zebra1234Crossing", "must not contain four consecutive digits"),
    ("Zebra7777Crossing", "must not contain a digit four times in a row"),
])
def test_a_weak_password_is_refused_with_the_rule_named_and_nothing_changes(
        stack: Stack, password: str, named: str) -> None:
    session, user, page = signed_in(stack)
    before = extension_of(stack, user)["user_password"]

    answer = set_password(stack, session, csrf_of(page), password)

    assert answer.status_code == 400 and named in result_of(answer.text)
    assert password not in answer.text
    assert extension_of(stack, user)["user_password"] == before
    assert stack.api("GET", "/api/audit?action=linkus_password_set").json()["entries"] == []


def test_a_password_holding_the_number_or_a_name_or_a_mismatch_is_refused(stack: Stack) -> None:
    session, user, page = signed_in(stack)
    before = extension_of(stack, user)
    csrf = csrf_of(page)

    with_number = set_password(stack, session, csrf, f"Quiet{before['number']}Harbourx")
    with_name = set_password(stack, session, csrf, f"Harbour7{user['surname'].upper()}x")
    mismatch = set_password(stack, session, csrf, GOOD, GOOD + "x")

    assert with_number.status_code == 400
    assert "must not contain your extension number" in result_of(with_number.text)
    assert "must not contain your first name or last name" in result_of(with_name.text)
    assert mismatch.status_code == 400 and "do not match" in result_of(mismatch.text)
    assert extension_of(stack, user)["user_password"] == before["user_password"]


def test_a_wrong_csrf_token_changes_nothing(stack: Stack) -> None:
    session, user, page = signed_in(stack)
    before = extension_of(stack, user)["user_password"]

    answer = set_password(stack, session, "not-the-token", GOOD)
    signed_out = set_password(stack, browser(stack), csrf_of(page), GOOD)

    assert answer.status_code == 403 and signed_out.status_code == 403
    assert extension_of(stack, user)["user_password"] == before


def test_the_pbx_refusal_is_shown_beside_the_field(stack: Stack) -> None:
    session, user, page = signed_in(stack)
    before = extension_of(stack, user)["user_password"]
    Control(stack.sandbox.pbx.url).fault(path="/openapi/v1.0/extension/update", errcode=40002,
                                         count=1)

    answer = set_password(stack, session, csrf_of(page), GOOD)

    assert answer.status_code == 502 and "PARAMETER ERROR" in result_of(answer.text)
    assert extension_of(stack, user)["user_password"] == before


def test_attempts_are_limited_to_five_a_minute(stack: Stack) -> None:
    session, _, page = signed_in(stack)
    csrf = csrf_of(page)

    answers = [set_password(stack, session, csrf, "weak").status_code for _ in range(6)]

    assert answers == [400] * 5 + [429]


def test_a_users_own_presence_change_is_recorded(stack: Stack) -> None:
    session, user, page = signed_in(stack)

    session.post(f"{stack.web.url}/me/presence", timeout=30,
                 data={"csrf": csrf_of(page), "enabled": "1", "map.Busy": "business_trip"})

    entry = stack.api("GET", "/api/audit?action=my_presence").json()["entries"][0]
    assert entry["actor"] == f"{user['displayName']} <{user['id']}>"
    assert entry["details"]["map"] == {"Busy": "business_trip"}


@pytest.mark.parametrize(("edition", "accepted"), [("software", True), ("cloud", False)])
def test_the_pbx_simulator_applies_the_documented_rule_of_its_edition(
        stack: Stack, edition: str, accepted: bool) -> None:
    Control(stack.sandbox.pbx.url).post("config", {"edition": edition})
    link = next(iter(stack.app.extensions["state"].user_links().values()))
    surname = stack.sandbox.graph_store.users.items[link.user_id]["surname"]
    client = pbx_client(stack.settings)
    try:
        for cloud_only in ("Harbour1234Lantern", "Harbour7777Lantern",
                           f"Harbour7{link.number}x", f"Harbour7{surname.lower()}"):
            if accepted:
                client.update_extension(link.ext_id, {"user_password": cloud_only})
                assert extension_of(stack, {"id": link.user_id})["user_password"] == cloud_only
            else:
                with pytest.raises(PbxError) as refused:
                    client.update_extension(link.ext_id, {"user_password": cloud_only})
                assert refused.value.errcode == 40002
                assert refused.value.body["invalid_param_list"] == [
                    {"field": "user_password", "value": "******"}]
        for weak in ("short1A", "nouppercase123", "NOLOWERCASE123", "NoDigitsAtAllHere"):
            with pytest.raises(PbxError):
                client.update_extension(link.ext_id, {"user_password": weak})
    finally:
        client.token_source.close()
