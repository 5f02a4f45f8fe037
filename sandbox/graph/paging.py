"""Paged collections and delta rounds, with their nextLink and deltaLink over this host."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from flask import request

from sandbox.graph.odata import (
    GraphFailure,
    bad_request,
    decode_token,
    encode_token,
    parse_filter,
    parse_select,
)
from sandbox.graph.store import GraphStore, Tracked

DELTA_TOKEN_LIFETIME = 7 * 24 * 3600
Represent = Callable[[dict[str, Any], list[str] | None], dict[str, Any]]


def advanced_query() -> bool:
    return (request.headers.get("ConsistencyLevel", "").lower() == "eventual"
            and request.args.get("$count", "").lower() == "true")


def context_url(fragment: str) -> str:
    return f"{request.host_url}v1.0/$metadata#{fragment}"


def _search(text: str | None) -> Callable[[dict[str, Any]], bool]:
    if not text:
        return lambda _o: True
    if request.headers.get("ConsistencyLevel", "").lower() != "eventual":
        raise bad_request("Request with $search query parameter only works through MSGraph with "
                          "a special request header: 'ConsistencyLevel: eventual'",
                          "Request_UnsupportedQuery")
    terms = re.findall(r'"?([A-Za-z]+):([^"]*)"?', text)
    if not terms:
        raise bad_request("Syntax error: the $search value must be \"property:value\".")

    def matches(obj: dict[str, Any]) -> bool:
        return any(any(word.lower().startswith(value.lower())
                       for word in re.split(r"[\s._@-]+", str(obj.get(prop) or "")))
                   for prop, value in terms)

    return matches


def list_page(
    objects: Iterable[dict[str, Any]],
    *,
    entity: str,
    properties: Iterable[str],
    represent: Represent,
    context: str,
    default_top: int = 100,
    max_top: int = 999,
) -> dict[str, Any]:
    """One page of a collection, keyset-paged by (`$orderby` value, id)."""
    if "$skip" in request.args:
        raise bad_request("'$skip' is not supported by the service.")
    properties = tuple(properties)
    if "$skiptoken" in request.args:
        state = decode_token(request.args["$skiptoken"])
    else:
        raw_top = request.args.get("$top")
        top = default_top if raw_top is None else int(raw_top) if raw_top.isdigit() else -1
        if not 1 <= top <= max_top:
            raise bad_request(f"Invalid page size specified: '{request.args.get('$top')}'. Must "
                              f"be between 1 and {max_top} inclusive.")
        order = request.args.get("$orderby", "").split(" ")[0]
        if order and order not in properties:
            raise bad_request(f"Invalid $orderby property '{order}'.")
        state = {"select": request.args.get("$select"), "filter": request.args.get("$filter"),
                 "search": request.args.get("$search"), "top": top, "order": order,
                 "advanced": advanced_query(), "after": None}
    select = parse_select(state["select"], entity, properties)
    keep = parse_filter(state["filter"], properties, advanced_allowed=state["advanced"])
    found = _search(state["search"])
    order = state["order"]

    def key(obj: dict[str, Any]) -> list[str]:
        return [str(obj.get(order) or "").lower() if order else "", obj["id"]]

    selected = sorted((o for o in objects if keep(o) and found(o)), key=key)
    after = state["after"]
    remaining = [o for o in selected if after is None or key(o) > after]
    rows = remaining[: state["top"]]
    body: dict[str, Any] = {"@odata.context": context_url(context)}
    if state["advanced"] and "$skiptoken" not in request.args:
        body["@odata.count"] = len(selected)
    if len(remaining) > len(rows):
        token = encode_token(state | {"after": key(rows[-1])})
        body["@odata.nextLink"] = f"{request.base_url}?$skiptoken={quote(token)}"
    body["value"] = [represent(o, select) for o in rows]
    return body


def delta_page(
    store: GraphStore,
    tracked: Tracked,
    *,
    entity: str,
    properties: Iterable[str],
    represent: Callable[[dict[str, Any], list[str] | None, int], dict[str, Any]],
    context: str,
    default_page: int = 100,
) -> dict[str, Any]:
    """One page of a delta round.

    A round starts at the `since` stamp of its token and ends with a deltaLink holding the
    stamp read when the round began, so an object changed while the round pages is sent again
    in the next round: replays, never losses.
    """
    now = store.clock.time()
    args = request.args
    if "$deltatoken" in args:
        raw = args["$deltatoken"]
        if raw == "latest":
            parse_select(args.get("$select"), entity, properties)
            return _delta_link_body(store, context, {"since": store.seq,
                                                     "select": args.get("$select"),
                                                     "issued": now})
        state = decode_token(raw)
        if now - float(state.get("issued", 0)) > DELTA_TOKEN_LIFETIME:
            location = f"{request.base_url}?$deltatoken="
            raise GraphFailure(410, "resyncRequired", "The delta token is no longer valid, and "
                               "the app must reset the sync state.", {"Location": location})
        state = {"since": state["since"], "select": state["select"], "mark": store.seq,
                 "after": "", "issued": now}
    elif "$skiptoken" in args:
        state = decode_token(args["$skiptoken"])
    else:
        if "$top" in args or "$orderby" in args or "$expand" in args:
            raise bad_request("The delta query does not support $top, $orderby or $expand.")
        parse_select(args.get("$select"), entity, properties)
        state = {"since": 0, "select": args.get("$select"), "mark": store.seq, "after": "",
                 "issued": now}
    select = parse_select(state["select"], entity, properties)
    size = _max_page_size(default_page)
    ids = tracked.changed_since(state["since"], state["after"])
    rows = []
    for object_id in ids[:size]:
        if object_id in tracked.removed:
            rows.append({"id": object_id, "@removed": {"reason": tracked.removed[object_id]}})
        else:
            rows.append(represent(tracked.items[object_id], select, state["since"]))
    if len(ids) > size:
        token = encode_token(state | {"after": ids[size - 1]})
        return {"@odata.context": context_url(context),
                "@odata.nextLink": f"{request.base_url}?$skiptoken={quote(token)}",
                "value": rows}
    body = _delta_link_body(store, context, {"since": state["mark"], "select": state["select"],
                                             "issued": now})
    body["value"] = rows
    return body


def _delta_link_body(store: GraphStore, context: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.context": context_url(context),
            "@odata.deltaLink": f"{request.base_url}?$deltatoken={quote(encode_token(state))}",
            "value": []}


def _max_page_size(default: int) -> int:
    match = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
    return max(1, min(int(match.group(1)), 999)) if match else default
