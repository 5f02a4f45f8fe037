"""The console's directory pages in a real browser: provisioning one user on demand, the audit
log, and an extension's presence edited on /extensions.

One stack for the module, synced once by a real worker, which is then stopped: no
change-triggered run races what the tests do through the console.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chromium, console_errors, shot, text_of, wait_until
from tests.stack import ADMIN_TOKEN, Stack, synced_stack

STEPS = ["read", "range", "match", "number", "write", "link"]


@pytest.fixture(scope="module")
def stack(redis_server: Any) -> Iterator[Stack]:
    with synced_stack(redis_server.url, users=12, settings={}) as running:
        for worker in list(running.workers):
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
            running.workers.remove(worker)
        yield running


@pytest.fixture(scope="module")
def driver(stack: Stack) -> Iterator[Any]:
    with chromium() as browser:
        sign_in_on(browser, stack, "/extensions")
        yield browser


def sign_in_on(driver: Any, stack: Stack, path: str) -> None:
    """Open a page of the console and sign in with the admin token from its sign-in form."""
    driver.get(stack.web.url + path)
    by_css(driver, "#token")[0].send_keys(ADMIN_TOKEN)
    by_css(driver, "form[data-api='/api/session'] button[type=submit]")[0].click()
    wait_until(driver, lambda d: by_css(d, "header nav"), f"{path} after signing in")


def by_css(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, css))


def new_user(stack: Stack, given: str, surname: str) -> dict[str, Any]:
    store = stack.sandbox.graph_store
    nickname = f"{given}.{surname}".lower()
    upn = f"{nickname}@{store.domain}"
    with store.lock:
        return store.put_user({
            "displayName": f"{given} {surname}", "givenName": given, "surname": surname,
            "userPrincipalName": upn, "mailNickname": nickname, "mail": upn,
            "userType": "Member", "accountEnabled": True, "businessPhones": [],
            "mobilePhone": None, "jobTitle": "Analyst", "department": None,
            "officeLocation": None, "preferredLanguage": "en-US", "employeeId": None,
            "companyName": "Contoso", "onPremisesExtensionAttributes": {}, "otherMails": [],
            "usageLocation": "US"}, change_type="created")


def search_and_pick(driver: Any, stack: Stack, query: str, user_id: str) -> Any:
    driver.get(stack.web.url + "/provision")
    box = by_css(driver, "#directory-q")[0]
    box.send_keys(query)
    pick = f".directory-pick[data-user-id='{user_id}']"
    wait_until(driver, lambda d: by_css(d, pick), f"{query} in the search results")
    by_css(driver, pick)[0].click()
    return by_css(driver, "#directory-provision-now")[0]


def test_an_administrator_finds_a_new_user_and_provisions_them(stack: Stack, driver: Any) -> None:
    user = new_user(stack, "Imogen", "Quartermaine")
    linked_before = stack.app.extensions["state"].user_links()

    search_and_pick(driver, stack, "Imogen Q", user["id"])
    chosen = text_of(driver, "#directory-chosen")
    by_css(driver, "#directory-provision-now")[0].click()
    wait_until(driver, lambda d: by_css(d, "#directory-result:not([hidden]) [data-steps] li"),
               "the provisioning steps")
    steps = [(li.get_attribute("data-step"), li.get_attribute("data-outcome"), li.text)
             for li in by_css(driver, "[data-steps] li")]
    outcome = text_of(driver, "#directory-result [data-outcome]")
    summary = text_of(driver, "#directory-result [data-summary]")
    shown_extension = text_of(driver, "#directory-chosen [data-field=extension]")
    shot(driver, "provision")
    errors = console_errors(driver)

    assert user["id"] not in linked_before
    assert "Imogen Quartermaine" in chosen and user["userPrincipalName"] in chosen
    assert "none yet" in chosen
    link = stack.app.extensions["state"].user_links()[user["id"]]
    assert [s[0] for s in steps] == STEPS
    assert {s[0]: s[1] for s in steps}["write"] == "ok"
    assert "✓ done" in steps[0][2] and "Read the user" in steps[0][2]
    assert outcome == "created"
    assert f"Created extension {link.number} for Imogen Quartermaine." in summary
    assert shown_extension == link.number
    with stack.sandbox.pbx_store.lock:
        created = stack.sandbox.pbx_store.extensions[link.ext_id]
        assert created["number"] == link.number
        assert created["email_addr"] == user["mail"]
    assert errors == []


def test_provisioning_while_user_sync_is_paused_says_so_plainly(stack: Stack, driver: Any) -> None:
    user = new_user(stack, "Percival", "Ashgrove")
    assert stack.api("POST", "/api/user-sync/pause", {"delete_extensions": False}).ok
    try:
        search_and_pick(driver, stack, "Percival", user["id"]).click()
        said = wait_until(driver, lambda d: text_of(d, "#directory-chosen .form-result.bad"),
                          "the refusal")
    finally:
        assert stack.api("POST", "/api/user-sync/resume").ok

    assert said.startswith("Not provisioned. User sync is paused")
    assert by_css(driver, "#directory-result")[0].get_attribute("hidden") is not None
    assert user["id"] not in stack.app.extensions["state"].user_links()


def test_the_audit_log_shows_a_settings_change_field_by_field_and_a_pause(
        stack: Stack, driver: Any) -> None:
    changed = stack.api("PATCH", "/api/settings", {"safety": {"max_deletions": 40}})
    assert changed.status_code == 200, changed.text
    assert stack.api("POST", "/api/user-sync/pause", {"delete_extensions": False}).ok
    assert stack.api("POST", "/api/user-sync/resume").ok

    driver.get(stack.web.url + "/audit")
    rows = by_css(driver, "table.directory-audit > tbody > tr")
    whats = [r.find_elements("css selector", "td")[3].text for r in rows]
    settings_row = next(r for r in rows if r.get_attribute("data-action") == "settings"
                        and "max deletions" in r.text)
    change = [td.text for td in settings_row.find_elements(
        "css selector", "table.directory-changes tbody tr")[0].find_elements("css selector", "td")]
    paused = next(r for r in rows if r.get_attribute("data-action") == "user_sync_paused")
    paused_cells = [td.text for td in paused.find_elements("css selector", "td")]
    shot(driver, "audit")
    by_css(driver, "#directory-action option[value='user_sync_paused']")[0].click()
    by_css(driver, "form.toolbar button[type=submit]")[0].click()
    wait_until(driver, lambda d: "action=user_sync_paused" in d.current_url, "the filtered log")
    filtered = {r.get_attribute("data-action")
                for r in by_css(driver, "table.directory-audit > tbody > tr")}

    assert whats[:3] == ["User sync resumed", "User sync paused", "Settings changed"]
    assert change == ["Safety \u203a max deletions", "50", "40"]
    assert paused_cells[1] == "admin token" and paused_cells[2] == "127.0.0.1"
    assert "Delete extensions\nno" in paused_cells[4]
    assert paused_cells[0] and "UTC" not in paused_cells[0]  # the browser's local time
    assert filtered == {"user_sync_paused"}
    assert "limit=50" in driver.current_url


def test_an_extensions_presence_edited_on_the_page_is_stored(stack: Stack, driver: Any) -> None:
    from selenium.webdriver.support.select import Select

    number = stack.api("GET", "/api/extensions").json()["extensions"][1]["number"]
    driver.get(stack.web.url + "/extensions")
    notice = text_of(driver, "p.flash.warn")
    by_css(driver, "#directory-q")[0].send_keys(number)
    wait_until(driver, lambda d: len(by_css(d, "details.directory-ext")) == 1, "the search")
    by_css(driver, f"#ext-{number} > summary")[0].click()
    form = f"#ext-{number} form"
    by_css(driver, f"{form} input[name=enabled]")[0].click()  # off
    Select(by_css(driver, f"#map-{number}-Busy")[0]).select_by_visible_text("Do Not Disturb")
    Select(by_css(driver, f"#map-{number}-PresenceUnknown")[0]).select_by_value("away")
    by_css(driver, f"{form} button[type=submit]")[0].click()
    wait_until(driver, lambda d: text_of(d, f"{form} .form-result.ok"), "the save")
    stored = stack.api("GET", f"/api/extensions/{number}/presence").json()
    summary = text_of(driver, f"#ext-{number} > summary")
    marks = len(by_css(driver, f"{form} [data-differs]"))
    shot(driver, "extensions")

    driver.get(f"{stack.web.url}/extensions?q={number}")  # the page shows what was stored
    shown = text_of(driver, f"#ext-{number} > summary")

    assert notice.startswith("Teams presence sync is off for everyone")  # P1 not yet on
    assert stored["enabled"] is False
    assert stored["map"]["Busy"] == "do_not_disturb"
    assert stored["map"]["PresenceUnknown"] == "away"
    assert stored["map"]["Available"] == "available"
    assert "Presence off" in summary and "Busy → Do Not Disturb" in summary
    assert marks == 2
    assert "Presence off" in shown and "Busy → Do Not Disturb; Unknown → Away" in shown


def test_a_refused_presence_choice_is_shown_next_to_its_field(stack: Stack, driver: Any) -> None:
    number = stack.api("GET", "/api/extensions").json()["extensions"][2]["number"]
    before = stack.api("GET", f"/api/extensions/{number}/presence").json()
    driver.get(f"{stack.web.url}/extensions?q={number}")
    by_css(driver, f"#ext-{number} > summary")[0].click()
    # a status this PBX does not know, as a stale page could offer it
    driver.execute_script("const s = document.getElementById(arguments[0]);"
                          "s.add(new Option('Gone fishing', 'gone_fishing', true, true));",
                          f"map-{number}-Away")
    by_css(driver, f"#ext-{number} form button[type=submit]")[0].click()
    error = wait_until(driver, lambda d: text_of(
        d, f"#ext-{number} .field-error[data-for='map.Away']"), "the field's error")
    invalid = by_css(driver, f"#map-{number}-Away")[0].get_attribute("aria-invalid")

    assert "unknown PBX presence" in error
    assert invalid == "true"
    assert stack.api("GET", f"/api/extensions/{number}/presence").json() == before


def test_many_extensions_come_in_pages(stack: Stack, driver: Any) -> None:
    numbers = sorted(link.number for link in stack.app.extensions["state"].user_links().values())

    driver.get(stack.web.url + "/extensions?limit=3")
    first = [e.text for e in by_css(driver, "#directory-extensions .directory-num")]
    by_css(driver, ".pager a.button")[0].click()
    wait_until(driver, lambda d: "offset=3" in d.current_url, "the next page")
    second = [e.text for e in by_css(driver, "#directory-extensions .directory-num")]

    assert first + second == numbers[:6]
