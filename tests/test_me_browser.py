"""`/me` in a real browser: a synced user signs in with Microsoft on the sandbox, sees their
Linkus login and sets their Linkus password on their own extension."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.browser import chromium, console_errors, shot, text_of, wait_until
from tests.stack import Stack, synced_stack

GOOD = "Harbour7Lantern9Quill"


@pytest.fixture(scope="module")
def stack(redis_server: Any) -> Iterator[Stack]:
    with synced_stack(redis_server.url, users=6, settings={}) as running:
        answer = running.api("PATCH", "/api/settings", {"sso": {"enabled": True}})
        assert answer.status_code == 200, answer.text
        yield running


def synced_user(stack: Stack, index: int) -> dict[str, Any]:
    links = stack.app.extensions["state"].user_links()
    users = sorted((u for u in stack.sandbox.graph_store.users.items.values() if u["id"] in links),
                   key=lambda u: u["id"])
    return users[index]


def extension_of(stack: Stack, user: dict[str, Any]) -> dict[str, Any]:
    link = stack.app.extensions["state"].user_links()[user["id"]]
    with stack.sandbox.pbx_store.lock:
        return dict(stack.sandbox.pbx_store.extensions[link.ext_id])


def sign_in_with_microsoft(driver: Any, stack: Stack, user: dict[str, Any]) -> None:
    """The sandbox signs `login_hint` in without its form and posts the answer back."""
    # the sandbox's Entra is https with a certificate of its own, which this profile does not know
    driver.execute_cdp_cmd("Security.setIgnoreCertificateErrors", {"ignore": True})
    driver.get(f"{stack.web.url}/sso/login?login_hint={quote(user['userPrincipalName'])}")
    wait_until(driver, lambda d: urlsplit(d.current_url).path == "/me"
               and text_of(d, "h1") == "My extension", "the user's own page after signing in")


def set_password(driver: Any, password: str, confirm: str | None = None) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "confirm").send_keys(password if confirm is None else confirm)
    driver.find_element(By.CSS_SELECTOR, "form[action='/me/linkus-password'] button").click()


def test_a_synced_user_signs_in_with_microsoft_and_sets_their_linkus_password(
        stack: Stack) -> None:
    user = synced_user(stack, 0)
    number = extension_of(stack, user)["number"]

    with chromium() as driver:
        sign_in_with_microsoft(driver, stack, user)
        page = text_of(driver, "body")
        set_password(driver, GOOD)
        said = wait_until(driver, lambda d: text_of(d, "#password-result"), "the answer")
        shot(driver, "me")
        errors = console_errors(driver)
        after = text_of(driver, "body")

    assert f"extension {number}" in page
    assert f"Username\n{number}" in page
    assert f"Server\n{urlsplit(stack.settings.pbx_base_url).hostname}" in page
    assert "10 to 63 characters" in page
    assert said == "Your Linkus password is set."
    assert GOOD not in after
    assert extension_of(stack, user)["user_password"] == GOOD
    assert errors == []


def test_a_weak_password_shows_the_rule_it_breaks_next_to_the_field(stack: Stack) -> None:
    from selenium.webdriver.common.by import By

    user = synced_user(stack, 1)
    before = extension_of(stack, user)["user_password"]

    with chromium() as driver:
        sign_in_with_microsoft(driver, stack, user)
        set_password(driver, "alllowercase12x")
        said = wait_until(driver, lambda d: text_of(d, "#password-result"), "the refusal")
        described = driver.find_element(By.ID, "password").get_attribute("aria-describedby")

    assert said.startswith("Not set: the password must contain an upper-case letter")
    assert "password-result" in described.split()
    assert extension_of(stack, user)["user_password"] == before
