"""A real browser for the console's tests: Debian's Chromium, driven through its ChromeDriver.

`scripts/bootstrap.sh` installs both (packages `chromium` and `chromium-driver`); where they
cannot be installed, the tests that need them skip and say why. Chromium starts headless with
a fresh profile and without its background connections (this machine's network is closed).

With `SCREENSHOTS=<folder>` in the environment, `shot(driver, name)` saves the page as
`<folder>/<name>.png`; `make screenshots` refreshes those in docs/screenshots.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.stack import ADMIN_TOKEN, Stack, started_stack, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US")


def missing_browser() -> str | None:
    """Why no browser test can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (scripts/bootstrap.sh installs it)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"no {path}: the Debian package {package} is not installed and could not be"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium with a fresh profile, closed afterwards; skips without one."""
    why = missing_browser()
    if why:
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="eps-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def sign_in_with_token(driver: Any, stack: Stack) -> None:
    """Open the console and trade the admin token for a session, as an administrator does."""
    from selenium.webdriver.common.by import By

    driver.get(stack.web.url + "/")
    driver.find_element(By.ID, "token").send_keys(ADMIN_TOKEN)
    driver.find_element(By.CSS_SELECTOR, "form[data-api='/api/session'] button[type=submit]").click()
    wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "header nav"),
               "the console after signing in")


def wait_until(driver: Any, check: Callable[[Any], Any], what: str, timeout: float = 30) -> Any:
    """Wait for `check(driver)` to be truthy; fails naming `what`."""
    return wait_for(lambda: check(driver), timeout=timeout, what=what, every=0.1)


def text_of(driver: Any, css: str) -> str:
    """The visible text of the first element matching `css` ("" when there is none)."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, css)
    return str(found[0].text) if found else ""


def shot(driver: Any, name: str) -> None:
    """Save the page as `<SCREENSHOTS>/<name>.png` when SCREENSHOTS is set."""
    folder = os.environ.get("SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 700), 2400))
    driver.save_screenshot(str(Path(folder) / f"{name}.png"))
    driver.set_window_size(1280, 900)


def console_errors(driver: Any) -> list[str]:
    """What the page's console reported as errors (a CSP violation, a failed script)."""
    try:
        entries = driver.get_log("browser")
    except Exception:  # a driver without logs: nothing to report
        return []
    return [e["message"] for e in entries if e.get("level") == "SEVERE"
            and "favicon.ico" not in e["message"]]



def fresh_stack(redis_url: str, *, users: int = 12, connect: bool = False) -> Any:
    """The whole product with one worker on a seeded sandbox, before any setting is saved."""
    return started_stack(redis_url, users=users, connect=connect)
