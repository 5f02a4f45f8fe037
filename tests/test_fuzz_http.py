"""Hostile input to every endpoint, over real HTTP, never meets a server error.

The web app is served on 127.0.0.1 (tests/served_web.py) with Graph, Entra and the PBX at a
closed port. Every route of `app.url_map` is sent hostile bodies, query strings, path values
and headers, some fixed and some drawn by Hypothesis (the profiles of
tests/hypothesis_profiles.py: `ci` derandomized). Redis is emptied and seeded again before each
request, so that every example meets the same app (and a shrunk one replays the same way).

What may answer a 5xx: only 502 or 503, only from an endpoint that calls Graph, Entra or the
PBX while serving the request (UPSTREAM), and only for input it accepted — that is an upstream
failure, told as such. A body that is not a JSON object is refused with 400 before any of that.
"""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_from_bytes, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.hypothesis_profiles  # noqa: F401  (registers and loads the profiles)
from core.presence.plan import AVAILABILITY, PBX_PRESENCE
from core.sync_settings import defaults
from tests.served_web import (
    CLIENT_STATE,
    NUMBER,
    PRESENCE_STATE,
    SSO_STATE,
    SUBSCRIPTIONS,
    TOKEN,
    USER_ID,
    ServedWeb,
)
from webhook.auth import SESSION_COOKIE

# the endpoints that call Graph, Entra or the PBX while answering: when those are unreachable
# they answer 502 or 503, which is the truth, not a failure to handle input
UPSTREAM = frozenset({"entra_api.groups", "entra_api.mailboxes", "presence_auth.begin",
                      "api_provision.provision_user", "api_provision.pick_user",
                      "sso.login", "sso.callback", "readyz"})
UPSTREAM_STATUSES = frozenset({502, 503})
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
JSON_TYPES = ("application/json", "application/json; charset=utf-8", "application/merge-patch+json")
CONTENT_TYPES = (*JSON_TYPES, "text/plain", "text/plain; charset=utf-8", "application/xml",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
                 "multipart/form-data", "application/octet-stream", "application/json; charset=latin-1",
                 "", "json", "*/*", "application/json\x7f")
DEEP = 100_000


@dataclass(frozen=True, order=True)
class Route:
    method: str
    rule: str
    endpoint: str

    @property
    def json(self) -> bool:
        """Takes a JSON body, if any (the admin API and Graph's endpoints)."""
        return self.rule.startswith(("/api/", "/graph/"))

    def path(self, value: str = "") -> str:
        """The rule with each variable filled: the seeded extension, or `value` when given."""
        path = self.rule
        for name, default in (("<run_id>", "no-such-run"), ("<number>", NUMBER),
                              ("<path:filename>", "console.js")):
            path = path.replace(name, quote(value, safe="") if value else default)
        return path


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture(scope="module")
def served(redis_server: Any) -> Iterator[ServedWeb]:
    running = ServedWeb(redis_server.url)
    yield running
    running.stop()


def routes_of(served: ServedWeb) -> list[Route]:
    return sorted(Route(method, rule.rule, rule.endpoint)
                  for rule in served.app.url_map.iter_rules() if not rule.rule.startswith("/_")
                  for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))


def send(served: ServedWeb, method: str, target: str, body: bytes = b"",
         headers: dict[str, str] | None = None) -> Answer:
    """One raw request on a fresh connection: the bytes go as they are."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def admin(content_type: str = "application/json") -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type}


def judged(route: Route, answer: Answer, *, accepted_input: bool) -> str | None:
    """What is wrong with `answer`, or None."""
    if "Content-Security-Policy" not in answer.headers:
        return f"{answer.status} without the security headers"
    if answer.status < 500:
        return None
    if answer.status in UPSTREAM_STATUSES and route.endpoint in UPSTREAM and accepted_input:
        return None
    return f"{answer.status}: {answer.body[:200]!r}"


# fixed hostile bodies, each refused with 400 by every JSON endpoint ---------------------------
HOSTILE: dict[str, tuple[bytes, str]] = {
    "arrays nested 100000 deep": (b"[" * DEEP, "application/json"),
    "objects nested 100000 deep": (b'{"a":' * DEEP, "application/json"),
    "arrays nested 5000 deep, closed": (b"[" * 5000 + b"]" * 5000, "application/json"),
    "objects nested 200 deep, closed": (b'{"a":' * 200 + b"1" + b"}" * 200, "application/json"),
    "invalid UTF-8": (b'{"scope": "\xff\xfe"}', "application/json"),
    "a lone surrogate": (b'{"scope": "\\ud800"}', "application/json"),
    "a lone surrogate as a key": (b'{"\\udfff": 1}', "application/json"),
    "NaN": (b'{"dry_run": NaN}', "application/json"),
    "Infinity": (b'{"safety": {"max_deletions": Infinity}}', "application/json"),
    "-Infinity": (b'{"a": -Infinity}', "application/json"),
    "a float beyond double": (b'{"a": 1e999}', "application/json"),
    "an integer of 5000 digits": (b'{"a": ' + b"9" * 5000 + b"}", "application/json"),
    "an integer beyond 2**53": (b'{"a": 18446744073709551616}', "application/json"),
    "duplicate keys": (b'{"scope": "users", "scope": "all"}', "application/json"),
    "a top-level array": (b"[]", "application/json"),
    "a top-level string": (b'"all"', "application/json"),
    "a top-level null": (b"null", "application/json"),
    "a top-level number": (b"1", "application/json"),
    "truncated": (b'{"value": [', "application/json"),
    "trailing garbage": (b"{} {}", "application/json"),
    "a byte-order mark": (b"\xef\xbb\xbf{}", "application/json"),
    "UTF-16": ('{"scope": "all"}'.encode("utf-16"), "application/json"),
    "a raw control character": (b'{"scope": "a\x00b"}', "application/json"),
    "JSON as text/plain": (b'{"scope": "all"}', "text/plain"),
    "JSON without a content type": (b'{"scope": "all"}', ""),
    "a form": (b"scope=all&dry_run=1", "application/x-www-form-urlencoded"),
    "multipart": (b'--x\r\nContent-Disposition: form-data; name="scope"\r\n\r\nall\r\n--x--\r\n',
                  "multipart/form-data; boundary=x"),
}


def test_deeply_nested_json_is_a_400_on_both_graph_endpoints(served: ServedWeb) -> None:
    served.reseed()
    for path in ("/graph/notifications", "/graph/lifecycle"):
        answer = send(served, "POST", path, b"[" * DEEP, {"Content-Type": "application/json"})

        assert answer.status == 400, (path, answer.body[:200])
        assert b"JSON" in answer.body


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_every_json_endpoint_refuses_a_hostile_body_with_400(served: ServedWeb,
                                                             kind: str) -> None:
    body, content_type = HOSTILE[kind]
    wrong = {}
    for route in routes_of(served):
        if not route.json:
            continue
        served.reseed()
        answer = send(served, route.method, route.path(), body, admin(content_type))
        if answer.status != 400 or "Content-Security-Policy" not in answer.headers:
            wrong[f"{route.method} {route.rule}"] = f"{answer.status} {answer.body[:120]!r}"

    assert wrong == {}


def test_the_validation_handshake_still_needs_no_body(served: ServedWeb) -> None:
    served.reseed()
    answer = send(served, "POST", "/graph/notifications?validationToken=abc",
                  headers={"Content-Type": "text/plain; charset=utf-8"})

    assert (answer.status, answer.body) == (200, b"abc")


def test_a_valid_body_still_reaches_its_view(served: ServedWeb) -> None:
    served.reseed()
    item = {"subscriptionId": "sub-users", "clientState": CLIENT_STATE, "changeType": "updated",
            "resource": f"users/{USER_ID}"}
    answer = send(served, "POST", "/graph/notifications",
                  json.dumps({"value": [item]}).encode(), {"Content-Type": "application/json"})
    patch = send(served, "PATCH", "/api/settings",
                 json.dumps({"safety": {"max_deletions": 7}}).encode(), admin())
    empty = send(served, "POST", "/api/user-sync/resume", b"", admin(""))

    assert answer.status == 202
    assert patch.status == 200 and json.loads(patch.body)["settings"]["safety"] == {
        "max_deletions": 7}
    assert empty.status == 200, empty.body


@pytest.mark.parametrize("path", ["/me/presence", "/sso/logout"])
def test_a_form_whose_csrf_token_is_not_ascii_is_refused_not_a_server_error(
        served: ServedWeb, path: str) -> None:
    served.reseed()
    answer = send(served, "POST", path, b"csrf=%C2%80&enabled=1",
                  {"Content-Type": "application/x-www-form-urlencoded",
                   "Cookie": served.cookies()})

    assert answer.status == (403 if path == "/me/presence" else 200), answer.body[:200]


# drawn by Hypothesis ----------------------------------------------------------------------
@st.composite
def mostly(draw: st.DrawFn, good: st.SearchStrategy[Any], other: st.SearchStrategy[Any],
           odds: int = 4) -> Any:
    """`good` `odds` times to one (a plain `|` would draw each branch of `other` as often)."""
    return draw(good) if draw(st.integers(0, odds)) else draw(other)


KEYS = ("value", "subscriptionId", "clientState", "changeType", "resource", "resourceData",
        "id", "lifecycleEvent", "token", "scope", "dry_run", "allow_deletions",
        "delete_extensions", "delete_groups", "enabled", "map", "tenant_id", "client_id",
        "client_secret", "client_secret_expires_at", "release_links", *defaults())
STRINGS = (*SUBSCRIPTIONS, CLIENT_STATE, USER_ID, NUMBER, TOKEN, "users", "groups", "all",
           "contacts", "updated", "deleted", "created", "reauthorizationRequired",
           "subscriptionRemoved", "missed", "Available", "Busy", "available", "dnd",
           "2030-01-01T00:00:00Z", "not a date", f"users/{USER_ID}", "", "\x00", "\u202e",
           "💥" * 3, "a" * 5000, "UTC", "Mars/Olympus", "25:99", "saturday")
scalars = (st.none() | st.booleans() | st.integers(-(2**60), 2**60)
           | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(STRINGS)
           | st.text(st.characters(exclude_categories=["Cs"]), max_size=30))
keys = st.sampled_from(KEYS) | st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25)


def shaped_like(document: Any) -> st.SearchStrategy[Any]:
    """Documents of `document`'s shape, each part kept, left out, or now and then replaced by
    anything."""
    if isinstance(document, dict):
        inner = st.fixed_dictionaries({}, optional={k: shaped_like(v) for k, v in document.items()})
    elif isinstance(document, list):
        inner = st.lists(shaped_like(document[0]) if document else scalars, max_size=3)
    else:
        inner = st.just(document) | st.sampled_from(STRINGS) | st.integers(-1, 100_000)
    return mostly(inner, json_values, odds=12)


notification = st.fixed_dictionaries(
    {"subscriptionId": mostly(st.sampled_from(list(SUBSCRIPTIONS)), scalars, odds=8),
     "clientState": mostly(st.just(CLIENT_STATE), scalars, odds=8),
     "changeType": mostly(st.sampled_from(["updated", "deleted", "created"]), scalars, odds=8),
     "resource": mostly(st.sampled_from([f"users/{USER_ID}", "groups/g1", SUBSCRIPTIONS[
         "sub-presence"], f"communications/presences/{USER_ID}"]), scalars, odds=8),
     "lifecycleEvent": mostly(st.sampled_from(
         ["reauthorizationRequired", "subscriptionRemoved", "missed"]), scalars, odds=8)},
    optional={"id": mostly(st.text(max_size=40), scalars, odds=8),
              "resourceData": mostly(st.fixed_dictionaries(
                  {}, optional={"id": mostly(st.just(USER_ID), scalars, odds=8)}), json_values)})
collections = st.builds(lambda items: {"value": items}, st.lists(notification, max_size=4))
settings_patches = shaped_like(defaults() | {"performance": {"pbx_concurrency": 4}})
api_bodies = shaped_like({"token": TOKEN, "scope": "users", "dry_run": True,
                          "allow_deletions": False, "delete_extensions": False,
                          "delete_groups": False, "enabled": True,
                          "map": {name: "available" for name in AVAILABILITY},
                          "tenant_id": "t", "client_id": "c", "client_secret": "s",
                          "client_secret_expires_at": "2030-01-01T00:00:00Z",
                          "release_links": True})
documents = (st.dictionaries(keys, json_values, max_size=6) | json_values | collections
             | settings_patches | api_bodies)


def documents_for(route: Route) -> st.SearchStrategy[Any]:
    """Mostly what `route` takes, with its parts left out or replaced; now and then anything."""
    if route.rule.startswith("/graph/"):
        return mostly(collections, documents)
    return mostly(settings_patches if route.rule == "/api/settings" else api_bodies, documents)


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes a JSON parser or a form parser may choke on."""
    return draw(st.one_of(
        st.binary(max_size=300),
        st.builds(lambda n, c: c * n, st.integers(1, DEEP), st.sampled_from([b"[", b'{"a":'])),
        st.builds(lambda n: b"[" * n + b"]" * n, st.integers(1, 3000)),
        st.builds(lambda d: urlencode(d).encode(), st.dictionaries(
            st.sampled_from(["csrf", "code", "state", "enabled", "map.Available", "map.Busy"])
            | st.text(max_size=8),
            st.sampled_from(["$CSRF", "1", "available", "nonsense"]) | st.text(max_size=20),
            max_size=5)),
        st.builds(lambda v: json.dumps(v).encode(), documents),
        st.builds(lambda s: s.encode("utf-8", "surrogatepass"), st.text(max_size=60)),
    ))


def with_session(body: bytes, seeded: dict[str, str]) -> bytes:
    return body.replace(b"%24CSRF", seeded["csrf"].encode()).replace(b"$CSRF",
                                                                       seeded["csrf"].encode())


@given(data=st.data())
def test_any_json_document_never_meets_a_server_error(served: ServedWeb, data: st.DataObject) -> None:
    routes = [r for r in routes_of(served) if r.json]
    graph = [r for r in routes if r.rule.startswith("/graph/")]  # 2 of many, and the busiest
    route = data.draw(mostly(st.sampled_from(routes), st.sampled_from(graph), odds=2),
                      label="route")
    document = data.draw(documents_for(route), label="document")
    body = json.dumps(document, allow_nan=False).encode()
    served.reseed()

    answer = send(served, route.method, route.path(), body, admin())

    assert judged(route, answer, accepted_input=True) is None
    if not isinstance(document, dict) or _too_big(document):
        assert answer.status == 400, answer.body[:200]


def _json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, RecursionError):
        return False


def _too_big(value: Any) -> bool:
    """Numbers the app refuses: integers beyond ±(2**53 - 1) (I-JSON)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > 2**53 - 1
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_too_big(v) for v in value.values())
    if isinstance(value, list):
        return any(_too_big(v) for v in value)
    return False


@given(data=st.data())
def test_any_bytes_with_any_content_type_never_meet_a_server_error(
        served: ServedWeb, data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(routes_of(served)), label="route")
    content_type = data.draw(st.sampled_from(CONTENT_TYPES), label="content type")
    body = data.draw(raw_bodies(), label="body")
    signed_in = data.draw(st.booleans(), label="signed in")
    seeded = served.reseed()
    headers = admin(content_type) | ({"Cookie": served.cookies()} if signed_in else {})

    answer = send(served, route.method, route.path(), with_session(body, seeded), headers)

    # a JSON endpoint parses its body before anything else: only a JSON object goes further
    accepted = not route.json or not body.strip() or (
        content_type.split(";")[0] in JSON_TYPES and _json_object(body))
    assert judged(route, answer, accepted_input=accepted) is None


any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
form_fields = st.tuples(st.fixed_dictionaries({}, optional={
    "csrf": mostly(st.just("$CSRF"), any_text), "code": any_text,
    "state": mostly(st.sampled_from([SSO_STATE, PRESENCE_STATE]), any_text),
    "enabled": mostly(st.sampled_from(["1", "0", ""]), any_text),
    "error": any_text, "error_description": any_text, "map.Junk": any_text, "map.": any_text,
    **{f"map.{name}": mostly(st.sampled_from(["", *PBX_PRESENCE]), any_text)
       for name in AVAILABILITY}}), st.dictionaries(st.text(max_size=10), any_text, max_size=3),
).map(lambda both: both[1] | both[0])


@given(data=st.data())
def test_any_form_to_the_pages_never_meets_a_server_error(
        served: ServedWeb, data: st.DataObject) -> None:
    route = data.draw(st.sampled_from([r for r in routes_of(served)
                                       if (r.endpoint.startswith("sso.") and r.method == "POST")
                                       or r.endpoint == "sso.callback"]), label="route")
    fields = data.draw(mostly(form_fields.map(urlencode), st.text(max_size=80)), label="form")
    content_type = data.draw(mostly(st.just("application/x-www-form-urlencoded"),
                                    st.sampled_from(CONTENT_TYPES)), label="content type")
    signed_in = data.draw(mostly(st.just(True), st.just(False)), label="signed in")
    seeded = served.reseed()
    form = fields.replace("%24CSRF", seeded["csrf"]).replace("$CSRF", seeded["csrf"])
    headers = {"Content-Type": content_type} | ({"Cookie": served.cookies()} if signed_in else {})
    get = route.method == "GET"
    target = route.path() + (f"?{quote(form, safe='=&%+')}" if get else "")

    answer = send(served, route.method, target, b"" if get else form.encode(), headers)

    assert judged(route, answer, accepted_input=True) is None


header_names = st.sampled_from(["Authorization", "Cookie", "X-Requested-With", "Accept",
                                "Accept-Encoding", "Origin", "Referer", "X-Forwarded-For",
                                "X-Forwarded-Proto", "Forwarded", "If-None-Match", "Range",
                                "If-Modified-Since", "Accept-Language", "X-Http-Method-Override",
                                "X-Custom"])
header_values = (st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), max_size=60)
                 | st.sampled_from([f"Bearer {TOKEN}", "Bearer", "Bearer ", "Basic Zm9vOmJhcg==",
                                    f"{SESSION_COOKIE}=", f"{SESSION_COOKIE}=a.b.c",
                                    f"{SESSION_COOKIE}=$COOKIE",
                                    "bytes=0-0,-1", "bytes=99999999-", "fetch", "gzip, br",
                                    "Thu, 01 Jan 1970 00:00:00 GMT", "*"]))


@given(data=st.data())
def test_any_path_query_and_headers_never_meet_a_server_error(
        served: ServedWeb, data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(routes_of(served)), label="route")
    method = data.draw(st.just(route.method) | st.sampled_from(METHODS), label="method")
    value = data.draw(st.just("") | st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
                      label="path value")
    query = data.draw(st.binary(max_size=80) | st.builds(urlencode, st.dictionaries(
        st.sampled_from(["validationToken", "limit", "search", "cursor", "q", "outcome",
                         "format", "login_hint", "saved", "state", "code", "error"])
        | st.text(max_size=8), st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
        max_size=4)).map(str.encode), label="query")
    headers = data.draw(st.dictionaries(header_names, header_values, max_size=5), label="headers")
    seeded = served.reseed()
    headers = {"Authorization": f"Bearer {TOKEN}"} | {
        k: v.replace("$COOKIE", seeded["cookie"]) for k, v in headers.items()}
    target = route.path(value) + ("?" + quote_from_bytes(query, safe="=&%+") if query else "")

    # another method of the same path is another view (HEAD is GET's)
    views = {(r.rule, r.method): r for r in routes_of(served)}
    view = views.get((route.rule, "GET" if method == "HEAD" else method), route)

    answer = send(served, method, target, b"", headers)

    assert judged(view, answer, accepted_input=True) is None
