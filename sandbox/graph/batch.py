"""JSON batching, as "Combine multiple HTTP requests using JSON batching" documents it
(https://learn.microsoft.com/en-us/graph/json-batching).

`POST /v1.0/$batch` with `{"requests": [{"id", "method", "url", "headers"?, "body"?,
"dependsOn"?}]}`: at most 20 requests, each `id` unique (not case-sensitive), else the batch
fails with 400 (as does a malformed body). Each `url` is relative to the version root
(`/users`, `users?$select=id`) and runs through the same handlers as a direct request, with the
batch's token: the same permission checks, the same answers. The batch answers 200
`{"responses": [{"id", "status", "headers", "body"}]}`; a request whose `dependsOn` failed is
answered 424. A `body` needs a `Content-Type` header.

The sandbox's fault rules apply to each inner request by its own path, so a 429 (with its
`Retry-After`) comes back inside the batch while the others succeed, as Graph throttles each
request of a batch on its own. `/_sandbox/requests` counts the batch once under `POST
/v1.0/$batch` and each inner request under its own path, and also under `batched`; latency a
fault gives inner requests is waited once, the longest, as if they ran side by side.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from sandbox.control import BATCH_ITEM
from sandbox.graph import auth
from sandbox.graph.odata import GraphFailure, bad_request

blueprint = Blueprint("batch", __name__, url_prefix="/v1.0")
MAX_REQUESTS = 20
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
_KEPT_HEADERS = ("content-type", "retry-after", "location", "cache-control", "odata-version")


@blueprint.post("/$batch")
def batch() -> Response:
    auth.authorize()
    body = request.get_json(silent=True)
    items = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise bad_request("Invalid batch payload format: a non-empty 'requests' array of "
                          "objects is required.", "BadRequest")
    if len(items) > MAX_REQUESTS:
        raise bad_request(f"The batch has {len(items)} requests; at most {MAX_REQUESTS} are "
                          "allowed.", "BadRequest")
    ids = [item.get("id") for item in items]
    if not all(isinstance(i, str) and i for i in ids):
        raise bad_request("Every batch request needs an 'id' string.", "BadRequest")
    if len({i.lower() for i in ids}) != len(ids):
        raise bad_request("Batch request ids must be unique.", "BadRequest")
    client = current_app.test_client()
    statuses: dict[str, int] = {}
    owed: list[int] = []  # latency faults of inner requests, in milliseconds
    responses = []
    for item in items:
        answer = _run(client, item, statuses, owed)
        statuses[item["id"].lower()] = answer["status"]
        responses.append(answer)
    if owed:
        time.sleep(max(owed) / 1000)
    return jsonify(responses=responses)


def _run(client: Any, item: dict[str, Any], statuses: dict[str, int],
         owed: list[int]) -> dict[str, Any]:
    depends = item.get("dependsOn") or []
    if any(statuses.get(str(d).lower(), 424) >= 400 for d in depends):
        return _error(item["id"], 424, "FailedDependency", "A request it depends on failed.")
    method, url = str(item.get("method", "")).upper(), item.get("url")
    if method not in METHODS or not isinstance(url, str) or not url:
        return _error(item["id"], 400, "BadRequest", "Each request needs a method and a url.")
    if "://" in url:
        return _error(item["id"], 400, "BadRequest", "The url must be relative to the version "
                      "root, such as '/users'.")
    if not isinstance(item.get("headers") or {}, dict):
        return _error(item["id"], 400, "BadRequest", "The headers must be an object.")
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    if "body" in item and not any(k.lower() == "content-type" for k in headers):
        return _error(item["id"], 400, "BadRequest", "Content-Type header is required for a body.")
    path = "/v1.0" + (url if url.startswith("/") else "/" + url)
    if path.split("?", 1)[0].rstrip("/") == "/v1.0/$batch":
        return _error(item["id"], 400, "BadRequest", "A batch cannot hold another batch.")
    headers["Authorization"] = request.headers.get("Authorization", "")
    answer = client.open(path, method=method, headers=headers, json=item.get("body"),
                         base_url=request.host_url, environ_base={BATCH_ITEM: owed})
    result: dict[str, Any] = {"id": item["id"], "status": answer.status_code,
                              "headers": {k: v for k, v in answer.headers.items()
                                          if k.lower() in _KEPT_HEADERS}}
    if answer.data:
        result["body"] = answer.get_json(silent=True) or answer.get_data(as_text=True)
    return result


def _error(item_id: str, status: int, code: str, message: str) -> dict[str, Any]:
    return {"id": item_id, "status": status, "headers": {"Content-Type": "application/json"},
            "body": {"error": {"code": code, "message": message}}}


@blueprint.errorhandler(GraphFailure)
def _failure(failure: GraphFailure) -> Response:
    return failure.response()
