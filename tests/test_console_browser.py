"""The console in a real browser: signing in, and every page rendering under the strict CSP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import (
    chromium,
    console_errors,
    fresh_stack,
    sign_in_with_token,
    text_of,
    wait_until,
)
from tests.stack import Stack


@pytest.fixture
def stack(redis_server: Any) -> Iterator[Stack]:
    with fresh_stack(redis_server.url, connect=True) as running:
        yield running


def test_an_administrator_signs_in_with_the_token_and_sees_the_status(stack: Stack) -> None:
    with chromium() as driver:
        driver.get(stack.web.url + "/")
        refused = text_of(driver, "h1")
        sign_in_with_token(driver, stack)
        heading = text_of(driver, "h1")
        errors = console_errors(driver)

    assert refused == "Sign in"
    assert heading == "Status"
    assert errors == []


def test_a_page_refreshing_itself_after_its_session_ended_reloads_whole(stack: Stack) -> None:
    import requests

    answer = requests.get(stack.web.url + "/runs", headers={"HX-Request": "true"}, timeout=10)
    page = requests.get(stack.web.url + "/runs", timeout=10)

    assert answer.status_code == 204 and answer.headers["HX-Refresh"] == "true"
    assert page.status_code == 200 and 'data-api="/api/session"' in page.text


def test_the_demos_token_link_signs_in_and_leaves_no_token_in_the_address(stack: Stack) -> None:
    from tests.stack import ADMIN_TOKEN

    with chromium() as driver:
        driver.get(f"{stack.web.url}/#token={ADMIN_TOKEN}")
        wait_until(driver, lambda d: text_of(d, "h1") == "Status", "the status page")
        address = driver.current_url

    assert ADMIN_TOKEN not in address and "#" not in address
