"""Sign-in sessions kept on the server (issue "Security"), through the running stack: a forged
cookie gets nothing, sign-out, SSO off and lost admin rights end them, the sign-in answer is
bound to the browser that asked, and `/sso/login` costs little and is limited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeSerializer

from tests.conftest import Control
from tests.stack import Stack, browser, form_post_fields, synced_stack
from tests.test_sso_e2e import enable_sso, sign_in, synced_user
from webhook.auth import SESSION_COOKIE, SESSION_SALT

PAGE = {"X-Requested-With": "fetch"}


@pytest.fixture
def stack(redis_server: Any) -> Iterator[Stack]:
    with synced_stack(redis_server.url, users=20, settings={}) as running:
        yield running


def as_admin(stack: Stack, session: requests.Session) -> int:
    return session.get(f"{stack.web.url}/api/status", headers=PAGE, timeout=30).status_code


def signed_in(stack: Stack, session: requests.Session) -> bool:
    return session.get(f"{stack.web.url}/me", allow_redirects=False, timeout=30).status_code == 200


def admin_group(stack: Stack, user: dict[str, Any]) -> str:
    """A new security group in Entra with `user` as its only member."""
    store = stack.sandbox.graph_store
    with store.lock:
        group = store.put_group({"displayName": "PBX admins", "mailEnabled": False,
                                 "mailNickname": "pbxadmins", "securityEnabled": True,
                                 "groupTypes": []})
        store.add_member(group["id"], user["id"])
    return str(group["id"])


def test_a_forged_cookie_gets_no_admin_rights(stack: Stack) -> None:
    user = synced_user(stack)
    enable_sso(stack)  # nobody is an administrator
    # a cookie of Flask's own session, signed with the app's key: the app reads none
    legacy = SecureCookieSessionInterface().get_signing_serializer(stack.app).dumps(
        {"user_id": user["id"], "name": "Mallory", "number": "1000", "admin": True, "csrf": "x"})
    unknown = URLSafeSerializer(stack.app.secret_key, salt=SESSION_SALT).dumps("no-such-session")
    forged_legacy, forged_id = browser(stack), browser(stack)
    forged_legacy.cookies.set("session", legacy)
    forged_id.cookies.set(SESSION_COOKIE, unknown)

    assert as_admin(stack, forged_legacy) == 401
    assert as_admin(stack, forged_id) == 401 and not signed_in(stack, forged_id)


def test_signing_out_ends_the_session_on_the_server(stack: Stack) -> None:
    enable_sso(stack)
    session, page = sign_in(stack, synced_user(stack)["userPrincipalName"])
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    copy = browser(stack)
    copy.cookies.update(session.cookies)

    session.post(f"{stack.web.url}/sso/logout", data={"csrf": csrf}, timeout=30)

    cookie = next(c for c in page.history[0].headers.get("Set-Cookie", "").split(", ")
                  if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert not signed_in(stack, copy) and not signed_in(stack, session)


def test_turning_sso_off_or_disabling_the_integration_ends_sessions_for_good(
        stack: Stack) -> None:
    enable_sso(stack)
    upn = synced_user(stack)["userPrincipalName"]
    before_sso_off, _ = sign_in(stack, upn)
    stack.api("PATCH", "/api/settings", {"sso": {"enabled": False}})
    enable_sso(stack)
    before_disable, _ = sign_in(stack, upn)
    stack.api("POST", "/api/integration/disable", {})
    stack.api("POST", "/api/integration/enable", {})

    assert not signed_in(stack, before_sso_off)
    assert not signed_in(stack, before_disable)
    assert signed_in(stack, sign_in(stack, upn)[0])


def test_admin_rights_end_with_the_group_in_the_settings_at_once(stack: Stack) -> None:
    user = synced_user(stack)
    enable_sso(stack, admin_group_ids=[admin_group(stack, user)])
    session, _ = sign_in(stack, user["userPrincipalName"])
    assert as_admin(stack, session) == 200

    enable_sso(stack, admin_group_ids=[])

    assert as_admin(stack, session) == 401 and signed_in(stack, session)


def test_admin_rights_and_the_account_are_checked_again_in_entra(stack: Stack) -> None:
    user = synced_user(stack)
    group = admin_group(stack, user)
    enable_sso(stack, admin_group_ids=[group])
    session, _ = sign_in(stack, user["userPrincipalName"])
    store = stack.sandbox.graph_store
    with store.lock:
        store.remove_member(group, user["id"])
    still_admin_until_the_recheck = as_admin(stack, session)

    stack.app.config["SSO_RECHECK_SECONDS"] = 0
    admin_after_recheck = as_admin(stack, session)
    with store.lock:
        store.put_user(store.users.items[user["id"]] | {"accountEnabled": False})

    assert still_admin_until_the_recheck == 200
    assert admin_after_recheck == 401
    assert not signed_in(stack, session)


def test_a_sign_in_answer_posted_from_another_browser_is_refused(stack: Stack) -> None:
    enable_sso(stack)
    attacker = browser(stack)
    entra = attacker.get(f"{stack.web.url}/sso/login", timeout=30,
                         params={"login_hint": synced_user(stack)["userPrincipalName"]})
    victim = browser(stack)

    answer = victim.post(f"{stack.web.url}/sso/callback", data=form_post_fields(entra.text),
                         timeout=30)

    assert answer.status_code == 400 and "another browser" in answer.text
    assert not signed_in(stack, victim)


def test_sign_in_pages_reuse_one_msal_app_and_are_limited_per_address(stack: Stack) -> None:
    enable_sso(stack)
    graph = Control(stack.sandbox.graph.url, str(stack.sandbox.cert_path))
    session = browser(stack)

    def login() -> requests.Response:
        return session.get(f"{stack.web.url}/sso/login", allow_redirects=False, timeout=30)

    def discoveries() -> int:
        return sum(n for k, n in graph.counts().items() if "openid-configuration" in k)

    first = login()
    after_first = discoveries()
    more = [login() for _ in range(9)]
    limited = login()

    assert [a.status_code for a in [first, *more]] == [302] * 10
    assert discoveries() == after_first
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


def test_a_login_hint_is_encoded_into_the_sign_in_address(stack: Stack) -> None:
    enable_sso(stack)
    url = f"{stack.web.url}/sso/login?login_hint=a%0d%0a%26prompt%3Dnone&prompt=none"

    answer = browser(stack).get(url, allow_redirects=False, timeout=30)

    assert answer.status_code == 302
    assert "login_hint=a%0D%0A%26prompt%3Dnone" in answer.headers["Location"]
    assert "prompt=" not in answer.headers["Location"].replace("%26prompt%3D", "")


def test_a_sign_in_cookie_planted_by_another_site_is_not_reused(stack: Stack) -> None:
    enable_sso(stack)
    planted = "p" * 20 + "lanted-by-a-sibling-subdomain"  # 48 characters an attacker chose
    attacker = browser(stack)
    attacker.cookies.set("eps_signin", planted, path="/sso/callback")
    entra = attacker.get(f"{stack.web.url}/sso/login", timeout=30,
                         params={"login_hint": synced_user(stack)["userPrincipalName"]})
    victim = browser(stack)
    victim.cookies.set("eps_signin", planted, path="/sso/callback")

    answer = victim.post(f"{stack.web.url}/sso/callback", data=form_post_fields(entra.text),
                         timeout=30)

    assert answer.status_code == 400 and "another browser" in answer.text
    assert not signed_in(stack, victim)
