"""OData pieces of Graph: error bodies, `$filter` and `$select`, and opaque paging tokens."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from flask import Response, jsonify


class GraphFailure(Exception):
    """A Graph error answer: `{"error": {"code", "message", "innerError"}}` with a status."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def response(self) -> Response:
        request_id = str(uuid.uuid4())
        response = jsonify(error={"code": self.code, "message": self.message, "innerError": {
            "request-id": request_id, "client-request-id": request_id}})
        response.status_code = self.status
        response.headers.update(self.headers)
        return response


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphFailure:
    return GraphFailure(400, code, message)


def not_found(what: str) -> GraphFailure:
    return GraphFailure(404, "Request_ResourceNotFound",
                        f"Resource '{what}' does not exist or one of its queried reference-property "
                        "objects are not present.")


# Opaque tokens -----------------------------------------------------------------------------
def encode_token(state: dict[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError:
        raise bad_request("Badly formed token.", "badRequest") from None
    if not isinstance(state, dict):
        raise bad_request("Badly formed token.", "badRequest")
    return state


# Write bodies ------------------------------------------------------------------------------
def without_annotations(body: dict[str, Any], entity: str) -> dict[str, Any]:
    """`body` without its `@odata.*` control information; an `@odata.type` must name `entity`.

    The Graph SDKs send `"@odata.type": "#microsoft.graph.user"` (or group, contact, ...) in
    every POST and PATCH body, and Microsoft's v1.0 example of Create user is that very body
    (https://learn.microsoft.com/en-us/graph/api/intune-mam-user-create). OData JSON Format
    4.01, section 4.5 "Control Information", makes `odata.*` names annotations, not properties;
    the type may be written with the namespace or with its alias `graph`, which Graph's
    `$metadata` declares (`<Schema Namespace="microsoft.graph" Alias="graph">`).
    """
    kind = body.get("@odata.type")
    if kind is not None and str(kind).lstrip("#") not in (f"microsoft.graph.{entity}",
                                                          f"graph.{entity}"):
        raise bad_request(f"A resource with type '{str(kind).lstrip('#')}' was found, but it is "
                          f"not assignable to the expected type 'microsoft.graph.{entity}'.",
                          "BadRequest")
    return {key: value for key, value in body.items() if not key.startswith("@odata.")}


# $select -----------------------------------------------------------------------------------
def parse_select(raw: str | None, entity: str, known: Iterable[str]) -> list[str] | None:
    if not raw:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    known_set = set(known)
    for name in names:
        if name not in known_set:
            raise bad_request(f"Could not find a property named '{name}' on type "
                              f"'microsoft.graph.{entity}'.")
    return names


def project(obj: dict[str, Any], select: list[str] | None, default: Iterable[str]) -> dict[str, Any]:
    names = select if select is not None else list(default)
    out = {"id": obj["id"]}
    for name in names:
        if name in obj:
            out[name] = obj[name]
    return out


# $filter -----------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<punct>[(),:])"
                    r"|(?P<word>[A-Za-z_][\w./]*))")
Predicate = Callable[[dict[str, Any]], bool]
ADVANCED_OPERATORS = {"ne", "not", "endswith"}


class FilterParser:
    """A recursive-descent parser for the `$filter` forms the product and its tests use."""

    def __init__(self, text: str, fields: Iterable[str]):
        self.tokens = self._lex(text)
        self.pos = 0
        self.fields = set(fields)
        self.advanced = False

    @staticmethod
    def _lex(text: str) -> list[tuple[str, str]]:
        tokens, pos = [], 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if not match:
                raise bad_request(f"Invalid filter clause: syntax error at position {pos}.")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            pos = match.end()
        return tokens

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.pos != len(self.tokens):
            raise bad_request("Invalid filter clause: unexpected trailing input.")
        return predicate

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def _take(self, value: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token[0] == "end" or (value is not None and token[1].lower() != value):
            raise bad_request(f"Invalid filter clause: expected {value or 'a term'}.")
        self.pos += 1
        return token

    def _or(self) -> Predicate:
        left = self._and()
        while self._peek()[1].lower() == "or":
            self._take()
            right, prev = self._and(), left
            left = lambda o, a=prev, b=right: a(o) or b(o)  # noqa: E731
        return left

    def _and(self) -> Predicate:
        left = self._factor()
        while self._peek()[1].lower() == "and":
            self._take()
            right, prev = self._factor(), left
            left = lambda o, a=prev, b=right: a(o) and b(o)  # noqa: E731
        return left

    def _factor(self) -> Predicate:
        kind, value = self._peek()
        if value.lower() == "not":
            self._take()
            self.advanced = True
            inner = self._factor()
            return lambda o: not inner(o)
        if value == "(":
            self._take("(")
            inner = self._or()
            self._take(")")
            return inner
        if kind == "word" and value.lower() in ("startswith", "endswith"):
            return self._function(value.lower())
        return self._comparison()

    def _field(self) -> list[str]:
        kind, value = self._take()
        path = value.split("/")
        if kind != "word" or path[0] not in self.fields:
            raise bad_request(f"Invalid filter clause: property '{value}' is not supported.")
        return path

    def _literal(self) -> Any:
        kind, value = self._take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value) if "." in value else int(value)
        if value in ("true", "false"):
            return value == "true"
        if value == "null":
            return None
        raise bad_request(f"Invalid filter clause: '{value}' is not a literal.")

    def _function(self, name: str) -> Predicate:
        self._take()
        self._take("(")
        path = self._field()
        self._take(",")
        literal = str(self._literal()).lower()
        self._take(")")
        if name == "endswith":
            self.advanced = True
            return lambda o: str(_resolve(o, path) or "").lower().endswith(literal)
        return lambda o: str(_resolve(o, path) or "").lower().startswith(literal)

    def _comparison(self) -> Predicate:
        kind, value = self._peek()
        if kind == "word" and "/any" in value:  # groupTypes/any(c:c eq 'Unified')
            return self._any()
        path = self._field()
        op = self._take()[1].lower()
        if op == "in":
            self._take("(")
            values = [self._literal()]
            while self._peek()[1] == ",":
                self._take(",")
                values.append(self._literal())
            self._take(")")
            return lambda o: _resolve(o, path) in values
        literal = self._literal()
        if op == "eq":
            return lambda o: _equal(_resolve(o, path), literal)
        if op == "ne":
            self.advanced = True
            return lambda o: not _equal(_resolve(o, path), literal)
        raise bad_request(f"Invalid filter clause: operator '{op}' is not supported.")

    def _any(self) -> Predicate:
        _, value = self._take()
        field = value.split("/any")[0]
        if field not in self.fields:
            raise bad_request(f"Invalid filter clause: property '{field}' is not supported.")
        self._take("(")
        var = self._take()[1]
        self._take(":")
        if self._take()[1] != var or self._take()[1].lower() != "eq":
            raise bad_request("Invalid filter clause: only 'any(x:x eq value)' is supported.")
        literal = self._literal()
        self._take(")")
        return lambda o: any(_equal(v, literal) for v in o.get(field) or [])


def _resolve(obj: dict[str, Any], path: list[str]) -> Any:
    value: Any = obj
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _equal(value: Any, literal: Any) -> bool:
    if isinstance(value, str) and isinstance(literal, str):
        return value.lower() == literal.lower()
    return bool(value == literal)


def parse_filter(text: str | None, fields: Iterable[str], *, advanced_allowed: bool) -> Predicate:
    """A predicate for `$filter`; `ne`, `not` and `endswith` need advanced-query headers."""
    if not text:
        return lambda _obj: True
    parser = FilterParser(text, fields)
    predicate = parser.parse()
    if parser.advanced and not advanced_allowed:
        raise bad_request("Unsupported or invalid query filter clause specified for property. "
                          "This query requires the ConsistencyLevel header set to eventual and "
                          "$count=true.", "Request_UnsupportedQuery")
    return predicate
