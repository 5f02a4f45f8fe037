"""The status and runs pages in a real browser, over the whole product on a seeded sandbox:
the runs list and its filters, a run's per-object results, searched and downloaded as CSV,
held deletions allowed from a blocked run's page, and health and schedule on the status page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
import requests

from core.clients import graph_client
from core.engine.rows import FIELDS
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from tests.browser import (
    chromium,
    console_errors,
    fresh_stack,
    shot,
    sign_in_with_token,
    wait_until,
)
from tests.conftest import Control
from tests.stack import Stack, synced_stack, wait_for


@pytest.fixture
def synced(redis_server: Any) -> Iterator[Stack]:
    with synced_stack(redis_server.url, users=12, settings={}) as stack:
        yield stack


def by_css(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, css))


def texts(driver: Any, css: str) -> list[str]:
    """The visible text of each element matching `css`, read at one instant in the page (a
    page that refreshes itself never hands back an element it has just replaced)."""
    return list(driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(e => e.innerText.replace(/\\s+/g, ' ').trim())", css))


def text(driver: Any, css: str) -> str:
    """The visible text of the first element matching `css` ("" when there is none)."""
    found = texts(driver, css)
    return found[0] if found else ""


def first_run(stack: Stack) -> dict[str, Any]:
    return stack.runs()[-1]


def failed_run(stack: Stack) -> dict[str, Any]:
    """A sync of users that fails: the PBX answers every extension list with 500."""
    pbx = Control(stack.sandbox.pbx.url)
    pbx.fault(path="/openapi/v1.0/extension/list", status=500, count=1000)
    try:
        answer = stack.api("POST", "/api/sync", {"scope": "users"})
        assert answer.status_code == 202, answer.text
        return stack.run(answer.json()["run_id"], timeout=90)
    finally:
        pbx.session.delete(f"{pbx.base_url}/_sandbox/faults", timeout=10)


def cookie_session(driver: Any) -> requests.Session:
    """A requests session carrying the browser's cookies, as its own download would."""
    session = requests.Session()
    session.trust_env = False
    for cookie in driver.get_cookies():
        session.cookies.set(cookie["name"], cookie["value"], path=cookie.get("path", "/"))
    return session


# the runs list -----------------------------------------------------------------------------
def test_the_runs_list_shows_the_first_sync_in_local_time_with_counts_and_filters_by_state(
        synced: Stack) -> None:
    first = first_run(synced)
    failed = failed_run(synced)
    assert failed["state"] == "failed", failed["summary"]

    with chromium() as driver:
        sign_in_with_token(driver, synced)
        driver.get(synced.web.url + "/runs")
        listed = texts(driver, "tr.run-row")
        first_row = by_css(driver, f"tr.run-row[data-run='{first['id']}']")[0]
        first_text = str(first_row.text)
        started = first_row.find_elements("css selector", "time")[0]
        started_title, started_text = started.get_attribute("title"), str(started.text)
        shot(driver, "runs")

        from selenium.webdriver.support.ui import Select

        Select(by_css(driver, "#filter-state")[0]).select_by_value("failed")
        wait_until(driver, lambda d: len(texts(d, "tr.run-row")) == 1,
                   "the list narrowed to the failed run")
        narrowed = by_css(driver, "tr.run-row")[0]
        narrowed_id = narrowed.get_attribute("data-run")
        narrowed_state = text(driver, "tr.run-row .badge")
        url = driver.current_url
        errors = console_errors(driver)

    assert len(listed) == 2
    assert "First save" in first_text and "Succeeded" in first_text
    assert f"{first['counts']['created']} created" in first_text
    assert started_title == first["started_at"]  # localized by the page
    assert "UTC" not in started_text
    assert narrowed_id == failed["id"] and narrowed_state == "Failed"
    assert "state=failed" in url
    assert errors == []


# one run's objects -------------------------------------------------------------------------
def test_a_runs_page_lists_its_created_extensions_and_a_search_narrows_them(
        synced: Stack) -> None:
    first = first_run(synced)
    links = synced.app.extensions["state"].user_links()
    user_id, link = sorted(links.items(), key=lambda item: item[1].number)[0]
    name = synced.sandbox.graph_store.users.items[user_id]["displayName"]

    with chromium() as driver:
        sign_in_with_token(driver, synced)
        driver.get(f"{synced.web.url}/runs/{first['id']}")
        listed = texts(driver, "tr.object-row")
        summary = text(driver, ".run-summary")
        count = text(driver, ".objects-count")
        shot(driver, "run")

        by_css(driver, "#objects-q")[0].send_keys(link.number)
        wait_until(driver, lambda d: len(texts(d, "tr.object-row")) == 1,
                   "the results narrowed to one extension")
        found = texts(driver, "tr.object-row")[0]
        narrowed_count = text(driver, ".objects-count")
        url = driver.current_url
        errors = console_errors(driver)

    users = [row for row in listed if row.startswith("Users")]
    assert summary == first["summary"]
    assert len(users) == len(links) and f"{len(listed)} objects" in count
    assert all(" created " in row for row in users)
    assert {link.number for link in links.values()} <= {
        word for row in users for word in row.split()}
    assert name in found and link.number in found and "created" in found
    assert narrowed_count.startswith(f"1 of {len(listed)} objects match")
    assert f"q={link.number}" in url
    assert errors == []


def test_the_csv_of_a_runs_objects_downloads_with_the_admins_session(synced: Stack) -> None:
    first = first_run(synced)
    links = synced.app.extensions["state"].user_links()

    with chromium() as driver:
        sign_in_with_token(driver, synced)
        driver.get(f"{synced.web.url}/runs/{first['id']}?part=users")
        href = by_css(driver, "a.download")[0].get_attribute("href")
        session = cookie_session(driver)
    with session:
        answer = session.get(href, timeout=30)
        stranger = requests.get(href, timeout=30, proxies={"http": "", "https": ""})

    table = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    assert "part=users" in href
    assert list(table[0]) == list(FIELDS)
    assert sorted(row["extension"] for row in table) == sorted(
        link.number for link in links.values())
    assert {row["outcome"] for row in table} == {"created"}
    assert stranger.headers["Content-Type"].startswith("text/html")  # no session: no CSV,
    assert "Sign in" in stranger.text  # the sign-in page


# held deletions ------------------------------------------------------------------------------
@contextmanager
def guarded_stack(redis_url: str, *, users: int, max_deletions: int) -> Iterator[Stack]:
    """A synced stack whose change-triggered syncs wait ten minutes (the changes stay pending),
    and whose deletion limit is `max_deletions`."""
    with Sandbox() as sandbox:
        seed_tenant(sandbox.graph_store, users)
        client = redis.Redis.from_url(redis_url)
        client.flushdb()
        stack = Stack(sandbox, redis_url, window=600)
        try:
            stack.start_worker()
            stack.connect()
            first = stack.api("PATCH", "/api/settings", {
                "users": {"enabled": True}, "safety": {"max_deletions": max_deletions}})
            stack.run(first.json()["run_id"])
            yield stack
        finally:
            stack.stop()
            client.flushdb()
            client.close()


def test_held_deletions_are_listed_and_allowed_from_the_blocked_runs_page(
        redis_server: Any) -> None:
    from selenium.webdriver.support.ui import Select

    with guarded_stack(redis_server.url, users=12, max_deletions=1) as stack:
        links = stack.app.extensions["state"].user_links()
        leaving = sorted(links)[:3]
        graph = graph_client(stack.settings, **stack.credentials)
        for user_id in leaving:
            graph.request("DELETE", f"users/{user_id}")
        wait_for(lambda: stack.api("GET", "/api/status").json()["users"]["pending_changes"] == 3,
                 timeout=30, what="the three deletions noted")
        waiting = stack.api("GET", "/api/status").json()["pending"]
        assert waiting["users"]["changes"] == 3 and waiting["users"]["runs_at"]

        with chromium() as driver:
            sign_in_with_token(driver, stack)
            pending = text(driver, ".pending-count")
            Select(by_css(driver, "#sync-scope")[0]).select_by_value("users")
            by_css(driver, "form.sync-now button[type=submit]")[0].click()
            wait_until(driver, lambda d: "/runs/" in d.current_url, "the new run's page")
            blocked_id = driver.current_url.rsplit("/", 1)[-1]
            wait_until(driver, lambda d: text(d, ".run-state .badge") == "Blocked",
                       "the run blocked, seen without reloading", timeout=60)
            held = texts(driver, ".held-list tbody tr")
            shot(driver, "run-held")
            button = by_css(driver, "button.allow-deletions")[0]
            button.click()
            alert = wait_until(driver, lambda d: d.switch_to.alert, "the confirmation")
            question = str(alert.text)
            alert.accept()
            wait_until(driver, lambda d: not d.current_url.endswith(blocked_id)
                       and "/runs/" in d.current_url, "the allowed run's page")
            wait_until(driver, lambda d: text(d, ".run-state .badge") == "Succeeded",
                       "the allowed run finished, seen without reloading", timeout=60)
            allowed_id = driver.current_url.rsplit("/", 1)[-1]
            deleted = texts(driver, "tr.object-row")
            errors = console_errors(driver)

        allowed = stack.api("GET", f"/api/runs/{allowed_id}").json()
        remaining = {link.ext_id for link in stack.app.extensions["state"].user_links().values()}
        on_pbx = set(stack.sandbox.pbx_store.extensions)

    assert pending == "3"
    assert len(held) == 3 and all(links[u].number in " ".join(held) for u in leaving)
    assert question.startswith("Delete 3 extensions from the PBX?")
    assert allowed["allow_deletions"] is True and allowed["counts"]["deleted"] == 3
    assert sum(1 for row in deleted if " deleted " in row) == 3
    assert not {links[u].ext_id for u in leaving} & on_pbx
    assert not {links[u].ext_id for u in leaving} & remaining
    assert errors == []


# status -------------------------------------------------------------------------------------
def test_the_status_page_names_a_missing_permission_and_the_next_scheduled_run(
        redis_server: Any) -> None:
    with fresh_stack(redis_server.url) as stack:
        graph = Control(stack.sandbox.graph.url, str(stack.sandbox.cert_path))
        graph.post("config", {"revoke": ["Group.Read.All"]})  # before any token is issued
        saved = stack.api("PATCH", "/api/settings", {
            "groups": {"enabled": True}, "schedule": {"timezone": "Europe/Paris"}})
        assert saved.status_code == 200, saved.text
        stack.connect(time_zone=None)

        with chromium() as driver:
            sign_in_with_token(driver, stack)
            wait_until(driver, lambda d: "Group.Read.All" in text(d, "#part-groups"),
                       "the groups' health problem (the page refreshes itself)", timeout=60)
            groups = text(driver, "#part-groups")
            attention = text(driver, "#attention")
            schedule = text(driver, "#schedule-title + p") + text(driver, "dl.facts")
            shot(driver, "status")
            by_css(driver, "#health button[data-api='/api/health/check']")[0].click()
            wait_until(driver, lambda d: text(d, "#check-now .form-result"),
                       "the check's answer")
            flash = text(driver, "#check-now .form-result")
            errors = console_errors(driver)

    assert "Group.Read.All not granted" in groups and "Problem" in groups
    assert "Group.Read.All" in attention
    assert "time zone Europe/Paris" in schedule and "(Europe/Paris)" in schedule
    assert "Daily at 00:30" in schedule and " in " in schedule
    assert "health check is on its way" in flash
    assert errors == []
