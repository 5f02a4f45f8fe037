"""What both simulators share: a movable clock, fault injection and request counts.

`POST /_sandbox/faults` {"path", "status", "retry_after", "count", "latency_ms", "skip",
"method", "errcode"} makes the next `count` requests under `path` (after `skip` of them pass)
wait `latency_ms` and then fail with `status`, or, on the PBX, answer HTTP 200 with `errcode`.
`POST /_sandbox/clock` {"advance_seconds": n} moves the simulator's clock forward, so that token,
delta-link and subscription expiry can be tested without waiting.

A request a batch runs (Graph's `$batch`) is counted under its own path, like a direct one, and
also under `batched`; the batch itself is counted once, under its own path. So `wire` (what
crossed the network) is `total` less `batched.total`. Fault rules apply to a batch's requests
by their own path too (a 429 comes back inside the batch); the latency they are given is
waited once for the batch, the longest of its requests', since Graph runs them side by side.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

Failure = Callable[["Fault"], Response]
BATCH_ITEM = "sandbox.batch_item"  # environ key of a batched request: where its latency is owed


class Clock:
    """Wall-clock time plus an offset that tests can advance."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), dt.UTC)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Fault:
    path: str
    status: int = 503
    retry_after: float | None = None
    count: int = 1
    latency_ms: int = 0
    skip: int = 0
    method: str | None = None
    errcode: int | None = None

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path) and (self.method is None or self.method == method)


@dataclass
class Control:
    clock: Clock = field(default_factory=Clock)
    faults: list[Fault] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    batched: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, method: str, path: str, *, batched: bool = False) -> None:
        with self.lock:
            self.requests[f"{method} {path}"] += 1
            if batched:
                self.batched[f"{method} {path}"] += 1

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The fault that applies to this request, if any, consuming one of its uses."""
        with self.lock:
            for fault in self.faults:
                if not fault.matches(method, path):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None


_FAULT_FIELDS = {"path", "status", "retry_after", "count", "latency_ms", "skip", "method", "errcode"}


def install(app: Flask, control: Control, failure: Failure) -> None:
    """Count requests, apply faults, and mount the `/_sandbox` control endpoints on `app`."""
    app.extensions["sandbox_control"] = control

    @app.before_request
    def _count_and_fault() -> Response | None:
        if request.path.startswith("/_sandbox"):
            return None
        owed = request.environ.get(BATCH_ITEM)  # a list, for a request a batch runs
        control.count(request.method, request.path, batched=owed is not None)
        fault = control.take_fault(request.method, request.path)
        if fault is None:
            return None
        if fault.latency_ms and owed is not None:
            owed.append(fault.latency_ms)  # the batch waits the longest of its requests'
        elif fault.latency_ms:
            time.sleep(fault.latency_ms / 1000)
        if fault.status == 200 and fault.errcode is None:
            return None  # latency only
        return failure(fault)

    app.register_blueprint(_blueprint)


def control_of() -> Control:
    return current_app.extensions["sandbox_control"]


_blueprint = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


@_blueprint.post("/faults")
def add_fault() -> tuple[Response, int]:
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("path"), str):
        return jsonify(error="body must be an object with a string 'path'"), 400
    unknown = set(body) - _FAULT_FIELDS
    if unknown:
        return jsonify(error=f"unknown fields: {sorted(unknown)}"), 400
    fault = Fault(**body)
    control = control_of()
    with control.lock:
        control.faults.append(fault)
    return jsonify(fault.__dict__), 201


@_blueprint.delete("/faults")
def clear_faults() -> tuple[str, int]:
    control = control_of()
    with control.lock:
        control.faults.clear()
    return "", 204


@_blueprint.get("/requests")
def request_counts() -> Response:
    control = control_of()
    with control.lock:
        by_method_path, batched = dict(control.requests), dict(control.batched)
    by_path: Counter[str] = Counter()
    for key, n in by_method_path.items():
        by_path[key.split(" ", 1)[1]] += n
    total = sum(by_method_path.values())
    return jsonify(
        total=total, by_path=dict(by_path), by_method_path=by_method_path,
        wire=total - sum(batched.values()),
        batched={"total": sum(batched.values()), "by_method_path": batched},
    )


@_blueprint.delete("/requests")
def reset_request_counts() -> tuple[str, int]:
    control = control_of()
    with control.lock:
        control.requests.clear()
        control.batched.clear()
    return "", 204


@_blueprint.post("/clock")
def advance_clock() -> Response:
    body: Any = request.get_json(silent=True) or {}
    control = control_of()
    control.clock.advance(float(body.get("advance_seconds", 0)))
    return jsonify(now=control.clock.now().isoformat())
