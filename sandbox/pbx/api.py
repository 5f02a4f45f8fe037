"""The OpenAPI's request conventions: envelope, paging, `ids`, and the endpoint table."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import request

from sandbox.pbx.store import PbxFailure, PbxStore, invalid

Handler = Callable[[PbxStore, dict[str, Any]], dict[str, Any]]
ENDPOINTS: dict[tuple[str, str], Handler] = {}
MAX_PAGE_SIZE = 10_000


def endpoint(method: str, name: str) -> Callable[[Handler], Handler]:
    """Register a handler for `METHOD /openapi/v1.0/<name>`."""

    def register(handler: Handler) -> Handler:
        ENDPOINTS[(method, name)] = handler
        return handler

    return register


def ok(**fields: Any) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "SUCCESS", **fields}


def args() -> dict[str, Any]:
    """Query parameters for GET, the JSON body for POST."""
    if request.method == "GET":
        return dict(request.args)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise PbxFailure(40001, invalid_param_list=[{"field": "body", "value": "not a JSON object"}])
    return body


def integer(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if value is None:
        raise PbxFailure(40002, invalid_param_list=[{"field": name, "validation_type": "required"}])
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(name, value) from None


def ids(params: dict[str, Any]) -> list[int]:
    """The `ids` parameter (comma-separated); one documented example spells it `id`."""
    raw = params.get("ids", params.get("id"))
    if raw in (None, ""):
        raise PbxFailure(40002, invalid_param_list=[{"field": "ids", "validation_type": "required"}])
    try:
        return [int(part) for part in str(raw).split(",") if part.strip()]
    except ValueError:
        raise invalid("ids", raw) from None


def page(
    rows: Iterable[dict[str, Any]],
    params: dict[str, Any],
    *,
    sort_fields: tuple[str, ...],
    default_page_size: int = 20,
) -> dict[str, Any]:
    """Sort and slice rows the way list and search endpoints do."""
    number = integer(params, "page", 1)
    size = integer(params, "page_size", default_page_size)
    if number < 1:
        raise invalid("page", number)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid("page_size", size)
    sort_by = params.get("sort_by", sort_fields[0])
    if sort_by not in sort_fields:
        raise invalid("sort_by", sort_by)
    order_by = params.get("order_by", "asc")
    if order_by not in ("asc", "desc"):
        raise invalid("order_by", order_by)
    ordered = sorted(rows, key=lambda r: (str(r.get(sort_by, "")).zfill(12) if sort_by == "id"
                                           else str(r.get(sort_by, "")), r["id"]),
                     reverse=order_by == "desc")
    start = (number - 1) * size
    return ok(total_number=len(ordered), data=ordered[start : start + size])


def matches(row: dict[str, Any], needle: str, fields: tuple[str, ...]) -> bool:
    needle = needle.lower()
    return any(needle in str(row.get(f, "")).lower() for f in fields)
