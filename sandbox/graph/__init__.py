"""The Microsoft Graph and Entra ID simulator (`contracts/graph.md`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, Response, jsonify, request

from sandbox import control as sandbox_control
from sandbox.graph import auth, batch, directory, mail, membership, presence, signin, subscriptions
from sandbox.graph.notify import Notifier, public
from sandbox.graph.odata import GraphFailure
from sandbox.graph.store import GraphStore

_THROTTLE_BODY = {"code": "TooManyRequests", "message": "Please retry again later."}


def _fault_response(fault: sandbox_control.Fault) -> Response:
    codes = {429: _THROTTLE_BODY,
             500: {"code": "InternalServerError", "message": "Internal server error."},
             503: {"code": "serviceNotAvailable", "message": "The service is temporarily "
                   "unavailable."},
             504: {"code": "UnknownError", "message": "Gateway timeout."}}
    error = dict(codes.get(fault.status, {"code": "UnknownError", "message": "Failure."}))
    error["innerError"] = {"code": str(fault.status), "status": str(fault.status),
                           "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")}
    response = jsonify(error=error)
    response.status_code = fault.status
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def create_app(store: GraphStore | None = None, control: sandbox_control.Control | None = None,
               *, notifier: Notifier | None = None) -> Flask:
    """A Flask app serving Entra's token endpoints and Graph v1.0 over `store`."""
    app = Flask("sandbox.graph")
    control = control or sandbox_control.Control()
    store = store or GraphStore(clock=control.clock)
    store.clock = control.clock
    notifier = notifier or Notifier(store)
    app.extensions["graph_store"] = store
    app.extensions["graph_notifier"] = notifier
    sandbox_control.install(app, control, _fault_response)
    for module in (auth, signin, directory, membership, mail, presence, subscriptions, batch):
        app.register_blueprint(module.blueprint)

    @app.errorhandler(GraphFailure)
    def _failure(failure: GraphFailure) -> Response:
        return failure.response()

    @app.errorhandler(404)
    def _no_route(_error: Any) -> Response:
        return GraphFailure(400, "BadRequest", f"Resource not found for the segment "
                            f"'{request.path.rsplit('/', 1)[-1]}'.").response()

    @app.errorhandler(405)
    def _no_method(_error: Any) -> Response:
        return GraphFailure(405, "Request_BadRequest", "Specified HTTP method is not allowed for "
                            "the request target.").response()

    @app.post("/_sandbox/lifecycle")
    def send_lifecycle() -> tuple[Response, int]:
        body: Any = request.get_json(silent=True) or {}
        with store.lock:
            sub = store.subscriptions.get(str(body.get("subscriptionId")))
            if sub is None:
                return jsonify(error="unknown subscription"), 404
            event = str(body.get("lifecycleEvent", "reauthorizationRequired"))
            if event == "subscriptionRemoved":
                del store.subscriptions[sub["id"]]
        notifier.lifecycle(public(sub), event)
        return jsonify(subscriptionId=sub["id"], lifecycleEvent=event), 202

    @app.post("/_sandbox/config")
    def configure() -> Response | tuple[Response, int]:
        body: Any = request.get_json(silent=True) or {}
        with store.lock:
            if "granted_roles" in body:
                store.app.roles = set(body["granted_roles"])
            store.app.roles |= set(body.get("grant", []))
            store.app.roles -= set(body.get("revoke", []))
            if "admin_writes" in body:
                store.app.admin_writes = bool(body["admin_writes"])
            for key in body.get("without_mailbox", []):  # ids or user principal names
                user = store.user(str(key))
                if user is None:
                    return jsonify(error=f"unknown user {key}"), 404
                store.mailboxless.add(user["id"])
            if "secret_expires_in" in body:
                store.app.secret_expires = control.clock.time() + float(body["secret_expires_in"])
            if "duplicate_rate" in body:
                notifier.duplicate_rate = float(body["duplicate_rate"])
            if "redirect_uris" in body:
                store.app.redirect_uris = set(body["redirect_uris"])
            return jsonify(granted_roles=sorted(store.app.roles),
                           admin_writes=store.app.admin_writes,
                           redirect_uris=sorted(store.app.redirect_uris),
                           secret_expires=store.app.secret_expires,
                           duplicate_rate=notifier.duplicate_rate)

    @app.get("/_sandbox/notifications")
    def delivered() -> Response:
        return jsonify(delivered=list(notifier.delivered), pending=len(notifier.pending))

    return app
