"""What every request and answer of the web app gets, whatever its view: security headers on
every answer, and one guard on the JSON bodies of the admin API and Graph's endpoints.

The guard runs before any view (and before authentication): a body sent to `/api/*` or
`/graph/*` must be one JSON object in UTF-8, sent as `application/json`, or the answer is 400
with what is wrong. The parser is strict where Python's `json` is lenient, so that nothing a
view or Redis cannot take gets past it: nesting deeper than MAX_DEPTH (Python's parser raises
RecursionError, not ValueError, at about 1000), NaN and Infinity, numbers beyond I-JSON's
(RFC 7493) ±(2**53 - 1) or a double, duplicate keys, lone surrogates (`"\\ud800"` cannot be
written back as UTF-8). An empty body is left to the view (several take none), and so is the
body of Graph's validation handshake, which carries none.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any, NoReturn

from flask import Flask, Request, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, ClientDisconnected
from werkzeug.utils import cached_property

MAX_BODY = 1024 * 1024  # no JSON body this app takes comes near it
MAX_DEPTH = 32
MAX_INTEGER = 2**53 - 1
JSON_PATHS = ("/api/", "/graph/")
# Our pages load their script and styles from our own origin and submit forms only to
# themselves; sign-in leaves by a link and a redirect (not governed by form-action), and
# Entra's form_post page posts back from its own origin under its own policy.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
    "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'",
    "form-action 'self'"))
HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY,
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY"}
HSTS = "max-age=31536000"


def install(app: Flask, *, https: bool) -> None:
    """Wire the headers, the strict JSON parser and the body guard into `app`."""
    app.json = StrictJSONProvider(app)
    app.request_class = JSONBodyRequest
    headers = HEADERS | ({"Strict-Transport-Security": HSTS} if https else {})
    app.wsgi_app = SecurityHeaders(app.wsgi_app, headers)  # type: ignore[method-assign]
    app.before_request(refuse_bad_json)


class SecurityHeaders:
    """WSGI middleware: `headers` on every answer, each unless the answer set it already.
    Added to the raw header list as the answer starts, which costs a fraction of editing
    Flask's response headers one by one."""

    def __init__(self, app: Callable[..., Iterable[bytes]], headers: Mapping[str, str]) -> None:
        self.app = app
        self.headers = list(headers.items())
        self.names = frozenset(name.lower() for name in headers)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        headers, names = self.headers, self.names

        def start(status: str, response_headers: list[tuple[str, str]],
                  exc_info: Any = None) -> Any:
            present = names.intersection([name.lower() for name, _ in response_headers])
            if present:  # rare: a view set one of them itself
                response_headers += [h for h in headers if h[0].lower() not in present]
            else:
                response_headers += headers
            return start_response(status, response_headers, exc_info)

        return self.app(environ, start)


def refuse_bad_json() -> None:
    """400 unless the body of a JSON endpoint is empty or one JSON object (see the module)."""
    req = request._get_current_object()  # bound once: each use of the proxy is a lookup
    path = req.path
    if req.url_rule is None or not path.startswith(JSON_PATHS):
        return  # an unknown path answers 404 whatever its body
    if path.startswith("/graph/") and validation_handshake(req):
        return
    if not req.get_data(cache=True):
        return
    try:  # not sent as JSON: on_json_loading_failed(None) below says so
        if not isinstance(req.get_json(), dict):  # parsed once, kept for the view
            raise BadRequest("the body must be a JSON object")
    except BadRequest:
        if path.startswith("/graph/"):
            current_app.extensions["metrics"].notification("invalid")
        raise


def validation_handshake(req: Request) -> bool:
    """Whether `req` is Graph's validation handshake: a `validationToken` in the query (the
    query is parsed only when there is one, as it is not on a notification)."""
    return bool(req.environ.get("QUERY_STRING")) and "validationToken" in req.args


class JSONBodyRequest(Request):
    """Says why a body is not JSON (Flask's own answer hides it outside debug mode), and reads
    a body of stated length in one call."""

    @cached_property
    def stream(self) -> IO[bytes]:
        """The body as werkzeug's guarded stream gives it, read at once when its length is
        stated and within MAX_BODY, as a Graph notification's is. Werkzeug's stream reads it
        piece by piece through a limiting wrapper, which was a tenth of the webhook's own
        work on a notification; anything else (no length, too long) still goes that way, and
        is refused as it was (413 when too long)."""
        stated = self.environ.get("CONTENT_LENGTH", "")
        if not stated.isdigit() or int(stated) > MAX_BODY or self.shallow:
            return super().stream
        body = self.environ["wsgi.input"].read(int(stated))
        if len(body) < int(stated):
            raise ClientDisconnected()
        return io.BytesIO(body)

    def on_json_loading_failed(self, e: ValueError | None) -> NoReturn:
        if e is None:
            raise BadRequest("the body must be JSON, sent as Content-Type: application/json")
        raise BadRequest(f"the body is not valid JSON: {e}")


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading with `parse`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse(s)


# Only an escape can put a lone surrogate in a body of bytes: the UTF-8 decoder refuses one.
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def parse(raw: str | bytes) -> Any:
    """The JSON document in `raw` (UTF-8 when bytes); ValueError for anything this app
    refuses (see the module). Numbers and constants are checked as they are read, and keys
    for duplicates; the strings are walked only when a surrogate may be among them, and the
    nesting only when the text has more brackets than MAX_DEPTH. The same answer as
    `parse_carefully`, far quicker: Graph posts notifications by the hundred."""
    if isinstance(raw, bytes | bytearray):
        text = bytes(raw).decode("utf-8")
        strings = "\\u" in text and _ESCAPED_SURROGATE.search(text) is not None
    else:
        text, strings = raw, True
    value = _read(text)
    if strings or text.count("{") + text.count("[") > MAX_DEPTH:
        _check(value, strings=strings)
    return value


def parse_carefully(raw: str | bytes) -> Any:
    """`parse`, with every string and the nesting always walked."""
    text = bytes(raw).decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    value = _read(text)
    _check(value)
    return value


def _read(text: str) -> Any:
    if text.startswith("\ufeff"):  # as json.loads: a byte-order mark is not JSON
        raise ValueError("the text starts with a byte-order mark")
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None


def _check(value: Any, *, strings: bool = True) -> None:
    """Depth, and strings unless told not to, without recursion (the value may be about 1000
    levels deep)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if strings:
                _text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict) and strings:
                for key in item:
                    _text(key)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def _text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate (not Unicode text)") from None


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key[:40]!r}")
        seen.add(key)
    raise AssertionError("unreachable: fewer keys than pairs means a key came twice")


def _constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is out of range")
    return number


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > 16:
        raise ValueError(f"the number {text[:40]}… is out of range")
    number = int(text)
    if abs(number) > MAX_INTEGER:
        raise ValueError(f"the number {text} is out of range (beyond ±(2**53 - 1))")
    return number


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant,
                            parse_float=_float, parse_int=_integer)  # built once, not per body
