"""JSON batching: up to 20 requests, each answered on its own, `dependsOn` failures as 424."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from sandbox.graph import auth
from sandbox.graph.odata import GraphFailure, bad_request

blueprint = Blueprint("batch", __name__, url_prefix="/v1.0")
MAX_REQUESTS = 20


@blueprint.post("/$batch")
def batch() -> Response:
    auth.authorize()
    body = request.get_json(silent=True)
    items = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise bad_request("The batch body must hold a non-empty 'requests' array.", "BadRequest")
    if len(items) > MAX_REQUESTS:
        raise bad_request(f"The number of batch requests exceeds the limit of {MAX_REQUESTS}.",
                          "BadRequest")
    ids = [item.get("id") if isinstance(item, dict) else None for item in items]
    if None in ids or len(set(ids)) != len(ids):
        raise bad_request("Every batch request needs a unique 'id'.", "BadRequest")
    client = current_app.test_client()
    statuses: dict[str, int] = {}
    responses = []
    for item in items:
        answer = _run(client, item, statuses)
        statuses[item["id"]] = answer["status"]
        responses.append(answer)
    return jsonify(responses=responses)


def _run(client: Any, item: dict[str, Any], statuses: dict[str, int]) -> dict[str, Any]:
    depends = item.get("dependsOn") or []
    if any(statuses.get(d, 424) >= 400 for d in depends):
        return _error(item["id"], 424, "FailedDependency", "A request it depends on failed.")
    method, url = str(item.get("method", "")).upper(), item.get("url")
    if method not in ("GET", "POST", "PATCH", "PUT", "DELETE") or not isinstance(url, str):
        return _error(item["id"], 400, "BadRequest", "Each request needs a method and a url.")
    headers = dict(item.get("headers") or {})
    if "body" in item and not any(k.lower() == "content-type" for k in headers):
        return _error(item["id"], 400, "BadRequest", "Content-Type header is required for a body.")
    headers["Authorization"] = request.headers.get("Authorization", "")
    path = "/v1.0" + (url if url.startswith("/") else "/" + url)
    answer = client.open(path, method=method, headers=headers, json=item.get("body"),
                         base_url=request.host_url)
    result: dict[str, Any] = {"id": item["id"], "status": answer.status_code,
                              "headers": {k: v for k, v in answer.headers.items()
                                          if k in ("Retry-After", "Content-Type", "Location")}}
    if answer.data:
        result["body"] = answer.get_json(silent=True) or answer.get_data(as_text=True)
    return result


def _error(item_id: str, status: int, code: str, message: str) -> dict[str, Any]:
    return {"id": item_id, "status": status, "headers": {"Content-Type": "application/json"},
            "body": {"error": {"code": code, "message": message}}}


@blueprint.errorhandler(GraphFailure)
def _failure(failure: GraphFailure) -> Response:
    return failure.response()
