"""Security headers on every answer of the web app, over real HTTP: a strict Content Security
Policy (no inline script or style on any page), nosniff, no referrer, no framing, and HSTS only
when the app is served at an https PUBLIC_BASE_URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, Response

from tests.served_web import NUMBER, TOKEN, ServedWeb
from webhook import hardening

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
ALWAYS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
          "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
HSTS = "max-age=31536000"
# Graph's posts, here from a subscription the app does not know: answered 202 and dropped
NOTIFICATION = {"value": [{"subscriptionId": "no-such-subscription", "clientState": "x",
                           "changeType": "updated", "resource": "Users/1"}]}
LIFECYCLE = {"value": [{"subscriptionId": "no-such-subscription", "clientState": "x",
                        "lifecycleEvent": "reauthorizationRequired"}]}
# what a strict CSP blocks: a <script> without src, <style>, style= and on...= attributes,
# javascript: URLs
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=|"
                    r"javascript:", re.IGNORECASE)


@pytest.fixture(scope="module")
def served(redis_server: Any) -> Iterator[ServedWeb]:
    running = ServedWeb(redis_server.url)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def served_https(redis_server: Any) -> Iterator[ServedWeb]:
    running = ServedWeb(redis_server.url, "https://sync.example.com")
    yield running
    running.stop()


def answers(served: ServedWeb) -> dict[str, requests.Response]:
    """One answer of each kind: every GET route, and the errors and non-GET answers."""
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    url = served.url
    http = served.http
    gets = {rule.rule for rule in served.app.url_map.iter_rules() if "GET" in rule.methods}
    paths = {rule.replace("<run_id>", "no-such-run").replace("<number>", NUMBER)
             .replace("<path:filename>", "console.js") for rule in gets}
    found = {f"GET {path}": served.get(path, headers=bearer) for path in sorted(paths)}
    return found | {
        "GET unknown path": served.get("/no/such/page"),
        "DELETE /healthz (405)": http.delete(f"{url}/healthz", timeout=10),
        "GET /api/status without a token (401)": served.get("/api/status"),
        "POST /graph/notifications validation handshake": http.post(
            f"{url}/graph/notifications?validationToken=hello", timeout=10),
        "POST /graph/notifications (202)": http.post(
            f"{url}/graph/notifications", json=NOTIFICATION, timeout=10),
        "POST /graph/lifecycle (202)": http.post(
            f"{url}/graph/lifecycle", json=LIFECYCLE, timeout=10),
        "POST /graph/notifications not JSON (400)": http.post(
            f"{url}/graph/notifications", data=b"{", timeout=10,
            headers={"Content-Type": "application/json"}),
        "POST /graph/notifications too big (413)": http.post(
            f"{url}/graph/notifications", data=b" " * (1024 * 1024 + 1), timeout=10,
            headers={"Content-Type": "application/json"}),
        "PATCH /api/settings invalid (400)": http.patch(
            f"{url}/api/settings", json={"safety": {"max_deletions": -1}}, headers=bearer,
            timeout=10),
        "GET /me signed in": served.signed_in().get(f"{url}/me", timeout=10),
        "POST /sso/logout": http.post(f"{url}/sso/logout", data={"csrf": "x"}, timeout=10),
        "GET an unexpected error (500)": served.get("/_test/unexpected"),
    }


def test_every_answer_carries_the_security_headers(served: ServedWeb) -> None:
    missing = {name: {header: answer.headers.get(header) for header, value in ALWAYS.items()
                      if answer.headers.get(header) != value}
               for name, answer in answers(served).items()}

    assert {name: wrong for name, wrong in missing.items() if wrong} == {}


def test_strict_transport_security_only_when_served_at_an_https_base_url(
        served: ServedWeb, served_https: ServedWeb) -> None:
    plain = answers(served)
    behind_https = answers(served_https)

    assert [name for name, answer in plain.items()
            if "Strict-Transport-Security" in answer.headers] == []
    assert {name: answer.headers.get("Strict-Transport-Security")
            for name, answer in behind_https.items()
            if answer.headers.get("Strict-Transport-Security") != HSTS} == {}
    assert all(answer.headers.get("Content-Security-Policy") == CSP
               for answer in behind_https.values())


@pytest.mark.parametrize("page", ["/", "/me", "/sso/login?closed"])
def test_no_page_holds_inline_script_or_style_the_policy_would_block(
        served: ServedWeb, page: str) -> None:
    if page == "/sso/login?closed":  # the plain page of sign-in (webhook/pages.py)
        served.app.extensions["state"].set_flags(state="disabled")
    try:
        answer = served.signed_in().get(served.url + page.split("?")[0], timeout=10,
                                        allow_redirects=False)
    finally:
        served.reseed()
    html = answer.text

    assert answer.headers["Content-Type"].startswith("text/html")
    assert "<form" in html if page == "/me" else "<h1>" in html
    assert INLINE.findall(html) == []


@pytest.mark.parametrize("page", ["/", "/me"])
def test_the_scripts_and_stylesheets_a_page_names_are_served_from_its_own_origin(
        served: ServedWeb, page: str) -> None:
    html = served.signed_in().get(served.url + page, timeout=10).text
    named = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html) + re.findall(
        r'<link[^>]*\brel="stylesheet"[^>]*\bhref="([^"]+)"', html)

    assert named and all(url.startswith("/") and not url.startswith("//") for url in named)
    for url in named:
        answer = served.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["Content-Type"].split(";")[0] in ("text/javascript", "text/css")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_graph_is_answered_202_with_no_content_and_so_no_media_type(served: ServedWeb) -> None:
    found = answers(served)
    accepted = [found["POST /graph/notifications (202)"], found["POST /graph/lifecycle (202)"]]

    assert [(a.status_code, a.content, a.headers.get("Content-Type"),
             a.headers.get("Content-Length")) for a in accepted] == [(202, b"", None, "0")] * 2


def test_a_security_header_an_answer_sets_itself_is_kept_and_the_others_added() -> None:
    app = Flask(__name__)
    hardening.install(app, https=False)

    @app.get("/framed")
    def framed() -> Response:
        return Response("ok", headers={"x-frame-options": "SAMEORIGIN"})

    answer = app.test_client().get("/framed")

    assert answer.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert {name: answer.headers.get(name) for name in ALWAYS if name != "X-Frame-Options"} == {
        name: value for name, value in ALWAYS.items() if name != "X-Frame-Options"}
