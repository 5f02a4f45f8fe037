"""The Settings page in a real browser: first-time setup with a preview before the first sync,
field errors beside their fields, the group picker, the proposed time zone, read-only parts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import (
    chromium,
    console_errors,
    fresh_stack,
    shot,
    sign_in_with_token,
    text_of,
    wait_until,
)
from tests.stack import Stack


@pytest.fixture
def stack(redis_server: Any) -> Iterator[Stack]:
    with fresh_stack(redis_server.url, connect=False) as running:
        yield running


@pytest.fixture
def connected(redis_server: Any) -> Iterator[Stack]:
    with fresh_stack(redis_server.url, connect=True) as running:
        yield running


def by_css(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def all_css(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, css))


def open_settings(driver: Any, stack: Stack) -> None:
    driver.get(stack.web.url + "/settings")
    wait_until(driver, lambda d: all_css(d, "#settings-page.ready"), "the settings page")


def type_into(driver: Any, css: str, text: str) -> None:
    field = by_css(driver, css)
    field.clear()
    field.send_keys(text)


def settled_text(driver: Any, css: str) -> str:
    """`text_of`, or "" while the page is being replaced: the element found is then stale,
    which chromedriver may also report as a node that "does not belong to the document"."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        return text_of(driver, css)
    except StaleElementReferenceException:
        return ""
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc.msg):
            return ""
        raise


def saved(driver: Any, part: str) -> bool:
    return settled_text(driver, f"form[data-part={part}] .form-result") == "Saved."


def test_first_time_setup_previews_the_first_user_sync_and_lands_on_its_run(stack: Stack) -> None:
    with chromium() as driver:
        sign_in_with_token(driver, stack)
        open_settings(driver, stack)
        type_into(driver, "#tenant-id", stack.credentials["tenant_id"])
        type_into(driver, "#client-id", stack.credentials["client_id"])
        type_into(driver, "#client-secret", stack.credentials["client_secret"])
        by_css(driver, "#connect-form button[type=submit]").click()
        wait_until(driver, lambda d: settled_text(d, "#connection .setting-head .badge") == "connected",
                   "the connection")
        wait_until(driver, lambda d: all_css(d, "#settings-page.ready"), "the page again")
        type_into(driver, "#schedule-timezone", "Europe/Paris")
        by_css(driver, "form[data-part=schedule] button[type=submit]").click()
        wait_until(driver, lambda d: saved(d, "schedule"), "the schedule saved")

        by_css(driver, "form[data-part=users] label.switch").click()
        by_css(driver, "input[name='users.range'][value=all]").click()
        type_into(driver, "#users-start", "1000")
        driver.execute_script("document.getElementById('users').scrollIntoView()")
        shot(driver, "settings")
        by_css(driver, "form[data-part=users] button[type=submit]").click()
        wait_until(driver, lambda d: by_css(d, "#preview-dialog .preview-result").is_displayed(),
                   "the preview", timeout=60)
        sentences = text_of(driver, "#preview-dialog .preview-sentences")
        created = [row.text for row in all_css(
            driver, "#preview-dialog details.outcome.created tbody tr td.number")]
        shot(driver, "preview")
        nothing_yet = len(stack.sandbox.pbx_store.extensions)
        by_css(driver, "#preview-dialog .preview-confirm").click()
        wait_until(driver, lambda d: "/runs/" in d.current_url, "the run's page")
        run_id = driver.current_url.rsplit("/runs/", 1)[1].split("?")[0].split("#")[0]
        from selenium.webdriver.common.by import By

        listed = wait_until(driver, lambda d: [
            (row.find_element(By.CSS_SELECTOR, ".badge").text,
             row.find_element(By.CSS_SELECTOR, "td.extension").text)
            for row in all_css(d, "#objects-table tr.object-row")],
            "the run's per-object results, shown as the run ends", timeout=60)
        errors = console_errors(driver)

    assert "will be created (1000" in sentences
    assert created and all(number.isdigit() and int(number) >= 1000 for number in created)
    assert nothing_yet == 0
    run = stack.run(run_id)
    assert run["state"] == "succeeded", run
    assert not run["dry_run"]
    numbers = {ext["number"] for ext in stack.sandbox.pbx_store.extensions.values()}
    assert set(created) <= numbers
    assert sorted(listed) == sorted(("created", number) for number in created)
    assert stack.api("GET", "/api/settings").json()["schedule"]["timezone"] == "Europe/Paris"
    assert errors == []


def test_a_field_error_is_shown_beside_its_field(connected: Stack) -> None:
    with chromium() as driver:
        sign_in_with_token(driver, connected)
        open_settings(driver, connected)
        by_css(driver, "form[data-part=users] label.switch").click()
        type_into(driver, "#users-start", "abc")
        by_css(driver, "form[data-part=users] button[type=submit]").click()
        wait_until(driver, lambda d: text_of(d, ".field-error[data-for='users.numbering.start']"),
                   "the start number's error")
        beside = text_of(driver, ".field-error[data-for='users.numbering.start']")
        invalid = by_css(driver, "#users-start").get_attribute("aria-invalid")
        said = text_of(driver, "form[data-part=users] .form-result")
        dialog_open = by_css(driver, "#preview-dialog").get_attribute("open")

    assert "1 to 7 digits" in beside
    assert invalid == "true"
    assert said.startswith("Not saved")
    assert dialog_open is None
    assert connected.api("GET", "/api/settings").json()["users"]["enabled"] is False


def test_the_group_picker_adds_a_group_by_its_name(connected: Stack) -> None:
    groups = connected.api("GET", "/api/entra/groups?search=Sales").json()["groups"]
    sales = next(g for g in groups if g["name"] == "Sales")
    with chromium() as driver:
        sign_in_with_token(driver, connected)
        open_settings(driver, connected)
        by_css(driver, "form[data-part=groups] label.switch").click()
        by_css(driver, "input[name='groups.range'][value=groups]").click()
        by_css(driver, "#groups .picker-query").send_keys("Sal")
        wait_until(driver, lambda d: [b for b in all_css(d, "#groups .picker-option")
                                      if b.get_attribute("data-name") == "Sales"], "Sales found")
        next(b for b in all_css(driver, "#groups .picker-option")
             if b.get_attribute("data-name") == "Sales").click()
        chip = text_of(driver, "#groups .chip .chip-name")
        by_css(driver, "form[data-part=groups] button[type=submit]").click()
        wait_until(driver, lambda d: by_css(d, "#preview-dialog .preview-result").is_displayed(),
                   "the preview", timeout=60)
        by_css(driver, "#preview-dialog .preview-cancel").click()
        after_cancel = connected.api("GET", "/api/settings").json()["groups"]
        by_css(driver, "form[data-part=groups] button[type=submit]").click()
        wait_until(driver, lambda d: by_css(d, "#preview-dialog .preview-result").is_displayed(),
                   "the preview again", timeout=60)
        planned = text_of(driver, "#preview-dialog .preview-sentences")
        by_css(driver, "#preview-dialog .preview-confirm").click()
        wait_until(driver, lambda d: "/runs/" in d.current_url, "the first group sync's page")
        kept = connected.api("GET", "/api/settings").json()["groups"]
        open_settings(driver, connected)
        chip_after_save = text_of(driver, "#groups .chip .chip-name")

    assert chip == chip_after_save == "Sales"
    assert after_cancel["group_ids"] == [] and after_cancel["enabled"] is False
    assert "1 extension group will be created: Sales" in planned
    assert kept["enabled"] is True and kept["range"] == "groups"
    assert kept["group_ids"] == [sales["id"]]


def test_the_time_zone_is_proposed_from_the_browser(stack: Stack) -> None:
    with chromium() as driver:
        driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Shanghai"})
        sign_in_with_token(driver, stack)
        open_settings(driver, stack)
        proposed = by_css(driver, "#schedule-timezone").get_attribute("value")
        note = text_of(driver, "#schedule .zone-proposal")
        unsaved = by_css(driver, "form[data-part=schedule] .unsaved").is_displayed()

    assert proposed == "Asia/Shanghai"
    assert "Proposed from this browser" in note
    assert unsaved
    assert stack.api("GET", "/api/settings").json()["schedule"]["timezone"] is None


def test_a_paused_part_is_read_only_and_says_why(connected: Stack) -> None:
    turned_on = connected.api("PATCH", "/api/settings", {"users": {"enabled": True}})
    connected.run(turned_on.json()["run_id"])
    assert connected.api("POST", "/api/user-sync/pause", {}).status_code == 200
    with chromium() as driver:
        sign_in_with_token(driver, connected)
        open_settings(driver, connected)
        notice = text_of(driver, "#users .locked")
        start_enabled = by_css(driver, "#users-start").is_enabled()
        switch_enabled = by_css(driver, "input[name='users.enabled']").is_enabled()
        save_enabled = by_css(driver, "form[data-part=users] button[type=submit]").is_enabled()
        groups_enabled = by_css(driver, "form[data-part=groups] button[type=submit]").is_enabled()
        resume = text_of(driver, "#users .part-actions")
        errors = console_errors(driver)

    assert "User sync is paused" in notice
    assert not start_enabled and not save_enabled and not switch_enabled
    assert groups_enabled
    assert "Resume user sync" in resume
    assert errors == []


def test_disabling_asks_first_then_keeps_every_setting_read_only_until_enabled(
        connected: Stack) -> None:
    with chromium() as driver:
        sign_in_with_token(driver, connected)
        open_settings(driver, connected)
        by_css(driver, "[data-open=disable-dialog]").click()
        by_css(driver, "#disable-dialog input[name=delete_extensions]").click()
        warned = by_css(driver, "#disable-dialog .warning").is_displayed()
        by_css(driver, "#disable-dialog input[name=delete_extensions]").click()
        by_css(driver, "#disable-dialog button[type=submit]").click()
        wait_until(driver, lambda d: settled_text(d, "#connection .setting-head .badge")
                   == "disabled", "the integration disabled")
        wait_until(driver, lambda d: all_css(d, "#settings-page.ready"), "the page again")
        notice = text_of(driver, "#schedule .locked")
        schedule_editable = by_css(driver, "#schedule-timezone").is_enabled()
        flags = connected.api("GET", "/api/status").json()["state"]
        by_css(driver, "#connection button[data-api='/api/integration/enable']").click()
        wait_until(driver, lambda d: settled_text(d, "#connection .setting-head .badge")
                   == "connected", "the integration enabled again")
        wait_until(driver, lambda d: all_css(d, "#settings-page.ready"), "the page again")
        editable_again = by_css(driver, "#schedule-timezone").is_enabled()

    assert warned
    assert flags == "disabled"
    assert "The integration is disabled" in notice
    assert not schedule_editable
    assert editable_again


def test_a_sync_part_turned_on_before_the_time_zone_points_at_the_schedule(stack: Stack) -> None:
    with chromium() as driver:
        sign_in_with_token(driver, stack)
        open_settings(driver, stack)
        by_css(driver, "form[data-part=users] label.switch").click()
        by_css(driver, "form[data-part=users] button[type=submit]").click()
        wait_until(driver, lambda d: text_of(d, ".field-error[data-for='schedule.timezone']"),
                   "the time zone's error")
        beside = text_of(driver, ".field-error[data-for='schedule.timezone']")
        said = text_of(driver, "form[data-part=users] .form-result")

    assert beside == "choose the PBX's time zone"
    assert "also under Schedule" in said


def test_the_json_document_saves_a_part_that_syncs_nothing_directly(stack: Stack) -> None:
    paused = stack.api("POST", "/api/user-sync/pause", {"delete_extensions": False})
    assert paused.status_code == 200, paused.text  # users' part is read-only: left out of the save
    with chromium() as driver:
        sign_in_with_token(driver, stack)
        open_settings(driver, stack)
        by_css(driver, "#advanced summary").click()
        driver.execute_script(
            "const area = document.getElementById('settings-json');"
            "const doc = JSON.parse(area.value); doc.safety.max_deletions = 7;"
            "area.value = JSON.stringify(doc, null, 2);")
        by_css(driver, "form[data-part=advanced] button[type=submit]").click()
        wait_until(driver, lambda d: saved(d, "advanced"), "the document saved")
        shown = by_css(driver, "#safety-max").get_attribute("value")

    assert shown == "7"
    assert stack.api("GET", "/api/settings").json()["safety"]["max_deletions"] == 7


def test_a_part_that_syncs_nothing_saves_at_once(stack: Stack) -> None:
    with chromium() as driver:
        sign_in_with_token(driver, stack)
        open_settings(driver, stack)
        type_into(driver, "#performance-pbx", "8")
        by_css(driver, "form[data-part=performance] button[type=submit]").click()
        wait_until(driver, lambda d: saved(d, "performance"), "the performance saved")
        type_into(driver, "#performance-pbx", "40")
        by_css(driver, "form[data-part=performance] button[type=submit]").click()
        wait_until(driver, lambda d: text_of(d, ".field-error[data-for='performance.pbx_concurrency']"),
                   "the out-of-range error")
        beside = text_of(driver, ".field-error[data-for='performance.pbx_concurrency']")

    assert stack.api("GET", "/api/settings").json()["performance"] == {"pbx_concurrency": 8}
    assert beside == "must be a whole number from 1 to 16"
