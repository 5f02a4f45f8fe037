"""The Yeastar P-Series OpenAPI simulator (`contracts/yeastar.md`)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from sandbox import control as sandbox_control
from sandbox.pbx import (  # noqa: F401  (register endpoints)
    auth,
    contacts,
    extensions,
    groups,
    organizations,
    timezones,
)
from sandbox.pbx.api import ENDPOINTS, args
from sandbox.pbx.store import PbxFailure, PbxStore

API_PREFIX = "/openapi/v1.0/"
_CONFIG_FIELDS = ("capacity", "max_concurrent", "access_ttl", "refresh_ttl", "max_tokens",
                  "timezone", "edition")
EDITIONS = ("software", "cloud", "appliance")


def _fault_response(fault: sandbox_control.Fault) -> Response:
    if fault.errcode is not None:
        return jsonify(PbxFailure(fault.errcode).body())
    response = jsonify(errcode=-2, errmsg="INTERNAL SERVER ERROR")
    response.status_code = fault.status
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def create_app(store: PbxStore | None = None, control: sandbox_control.Control | None = None) -> Flask:
    """A Flask app serving the OpenAPI over `store`."""
    app = Flask("sandbox.pbx")
    store = store or PbxStore()
    control = control or sandbox_control.Control()
    app.extensions["pbx_store"] = store
    sandbox_control.install(app, control, _fault_response)

    @app.route(f"{API_PREFIX}<path:name>", methods=["GET", "POST"])
    def openapi(name: str) -> Response:
        return jsonify(_dispatch(store, control, name))

    @app.post("/_sandbox/config")
    def configure() -> Response | tuple[Response, int]:
        body: Any = request.get_json(silent=True) or {}
        if "edition" in body and body["edition"] not in EDITIONS:
            return jsonify(error=f"edition must be one of {', '.join(EDITIONS)}"), 400
        with store.lock:
            for key in _CONFIG_FIELDS:
                if key in body:
                    setattr(store, key, body[key])
            if body.get("unblock"):
                store.blocked_ips.clear()
                store.failed_logins.clear()
            if "organizations" in body:
                try:
                    organizations.replace(store, list(body["organizations"]))
                except (TypeError, ValueError) as exc:
                    return jsonify(error=str(exc)), 400
            if "organization_management" in body:
                organizations.switch(store, body["organization_management"])
        return jsonify({k: getattr(store, k) for k in _CONFIG_FIELDS}
                       | {"organization_management": store.organization_management,
                          "organizations": sorted(store.organizations)})

    @app.get("/_sandbox/state")
    def state() -> Response:
        with store.lock:
            return jsonify(
                extensions=len(store.extensions), groups=len(store.groups),
                contacts=len(store.contacts), phonebooks=len(store.phonebooks),
                live_tokens=len(store.live_tokens(control.clock.time())),
                welcome_emails=list(store.welcome_emails), blocked_ips=sorted(store.blocked_ips),
            )

    return app


def _dispatch(store: PbxStore, control: sandbox_control.Control, name: str) -> dict[str, Any]:
    now = control.clock.time()
    with store.lock:
        store.in_flight += 1
        busy = store.max_concurrent is not None and store.in_flight > store.max_concurrent
    try:
        if busy:
            raise PbxFailure(70082)
        if not request.headers.get("User-Agent"):
            raise PbxFailure(40002, invalid_param_list=[{"field": "User-Agent",
                                                          "validation_type": "required"}])
        ip = request.remote_addr or ""
        if (request.method, name) == ("POST", "get_token"):
            with store.lock:
                return auth.get_token(store, args(), ip=ip, now=now)
        if (request.method, name) == ("POST", "refresh_token"):
            with store.lock:
                return auth.refresh_token(store, args(), now=now)
        handler = ENDPOINTS.get((request.method, name))
        if handler is None:
            raise PbxFailure(10001, invalid_param_list=[
                {"field": "path", "value": f"No route for {request.method} /openapi/v1.0/{name}"}])
        with store.lock:
            if store.token_for_access(request.args.get("access_token", ""), now) is None:
                raise PbxFailure(10004)
            params = args()
            if request.method == "GET" and name == "del_token":
                params = {"access_token": request.args.get("access_token", "")}
            return handler(store, params)
    except PbxFailure as failure:
        return failure.body()
    finally:
        with store.lock:
            store.in_flight -= 1
