"""The contract probe over real HTTP against the simulators: no difference on the sandbox (which
keeps simulator and assumptions in step), the optional test extension, and changed answers."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, request

from core import probe
from core.clients import sandbox_environment
from core.connection import ConnectionStore, Credentials
from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.probe.assumptions import PRESENCE_VALUES, need, shape
from core.probe.compare import differences, each
from core.probe.report import Report
from core.secret_box import SecretBox
from core.store.redis import StateStore
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant
from sandbox.serve import ServedApp
from tests.conftest import Control

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "pr0be-" + "Xq7Lm2Zt9Vw4Ks8Bn3Hd6Jf1Rc5Gy0Ua"
PBX_WRITES = ("POST /openapi/v1.0/extension/create", "POST /openapi/v1.0/extension/update",
              "GET /openapi/v1.0/extension/delete", "POST /openapi/v1.0/extensiongroup/create",
              "POST /openapi/v1.0/company_contact/create", "POST /openapi/v1.0/phonebook/create")
EVERY_ENDPOINT = (
    "graph users", "graph users paging", "graph users disabled", "graph user by id",
    "graph user unknown id", "graph deletedItems users", "graph users/delta",
    "graph users/delta round", "graph users/delta latest", "graph groups", "graph groups search",
    "graph groups/delta", "graph groups/delta round", "graph groups/delta latest",
    "graph group members", "graph group transitiveMembers", "graph mailboxSettings",
    "graph contacts", "graph getPresencesByUserId", "graph subscriptions", "pbx get_token",
    "pbx extension/list", "pbx extension/list paging", "pbx extension/search",
    "pbx extension/query", "pbx extension/get", "pbx extension/get unknown id",
    "pbx extensiongroup/list", "pbx extensiongroup/query", "pbx company_contact/list",
    "pbx phonebook/list")


def _validation_app() -> Flask:
    app = Flask("validation")

    @app.post("/graph/notifications")
    def validate() -> Response:
        return Response(request.args.get("validationToken", ""), mimetype="text/plain")

    return app


@pytest.fixture
def tenant(sandbox: Sandbox, graph: GraphClient, pbx: PbxClient) -> Iterator[Sandbox]:
    """Data behind every endpoint: users (a guest, disabled, deleted), groups (one nested),
    contacts, a shared mailbox, presence, a subscription; extensions, an extension group with
    members, a phonebook with a company contact."""
    seed_tenant(sandbox.graph_store, 30)
    for number in ("1001", "1002", "1003"):
        pbx.create_extension({"number": number, "first_name": f"Ext {number}",
                              "user_password": "Secret12345x", "reg_name": number,
                              "reg_password": "reg-pass-123", "concurrent_registrations": 1,
                              "presence_status": "available"})
    ids = sorted(e.id for e in pbx.extensions())
    pbx.create_extension_group("Sales", ids[:2])
    book = pbx.create_phonebook("Sales Desk")
    pbx.create_company_contact({"first_name": "Ada", "phonebook_id_list": [book],
                                "number_list": [{"num_type": "mobile_number", "number": "555"}]})
    receiver = ServedApp(_validation_app())
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    graph.create_subscription(resource="users", change_type="updated,deleted",
                              notification_url=f"{receiver.url}/graph/notifications",
                              expiration=expires.isoformat().replace("+00:00", "Z"),
                              client_state=secrets.token_hex(16))
    try:
        yield sandbox
    finally:
        receiver.stop()


def run_probe(sandbox: Sandbox, redis_url: str, out: Path, *args: str,
              env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], Any]:
    environ = os.environ | sandbox_environment(sandbox.describe()) | {
        "SECRET_KEY": SECRET_KEY, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"} | (env or {})
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "webhook", "probe", "--out", str(out), *args],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120)
    report = json.loads(out.read_text()) if out.exists() else None
    return result, report


def outcome(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"] == name)


def line(stdout: str, name: str) -> str:
    return next(row for row in stdout.splitlines() if row.startswith(name + " "))


def test_probe_of_the_sandbox_finds_no_difference_and_writes_nothing(
        tenant: Sandbox, redis_server: Any, state: StateStore, pbx_control: Control,
        tmp_path: Path) -> None:
    before = pbx_control.counts()

    result, report = run_probe(tenant, redis_server.url, tmp_path / "report.json")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-2] == "no difference"
    assert report["result"] == "no difference" and report["differences"] == 0
    names = [c["name"] for c in report["checks"]]
    assert set(EVERY_ENDPOINT) <= set(names)
    for name in EVERY_ENDPOINT:  # every endpoint had data: nothing "not checked"
        assert line(result.stdout, name).split()[-1] != "checked)", line(result.stdout, name)
    assert all(c["source"] for c in report["checks"])
    after = pbx_control.counts()
    assert all(after.get(w, 0) == before.get(w, 0) for w in PBX_WRITES)
    secrets_ = sandbox_environment(tenant.describe())
    for name in ("ENTRA_CLIENT_SECRET", "PBX_CLIENT_SECRET"):
        assert secrets_[name] not in result.stdout + result.stderr
        assert secrets_[name] not in (tmp_path / "report.json").read_text()


def test_write_test_extension_creates_reads_edits_and_deletes_it(
        tenant: Sandbox, redis_server: Any, state: StateStore, pbx_control: Control,
        tmp_path: Path) -> None:
    numbers = sorted(e["number"] for e in tenant.pbx_store.extensions.values())

    result, report = run_probe(tenant, redis_server.url, tmp_path / "r.json",
                               "--write-test-extension", "7999")

    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("create", "update", "delete"):
        assert outcome(report, f"pbx extension/{step} 7999")["outcome"] == "same"
    counts = pbx_control.counts()
    assert counts["POST /openapi/v1.0/extension/create"] == 1 + 3  # the fixture made three
    assert counts["POST /openapi/v1.0/extension/update"] == 1
    assert counts["GET /openapi/v1.0/extension/delete"] == 1
    assert sorted(e["number"] for e in tenant.pbx_store.extensions.values()) == numbers
    assert report["write_test_extension"] == "7999"


def test_a_number_in_use_is_refused_before_any_write(
        tenant: Sandbox, redis_server: Any, state: StateStore, pbx_control: Control,
        tmp_path: Path) -> None:
    result, report = run_probe(tenant, redis_server.url, tmp_path / "r.json",
                               "--write-test-extension", "1002")

    assert result.returncode == 1
    assert "exists already" in line(result.stdout, "pbx extension/create 1002")
    assert outcome(report, "pbx extension/create 1002")["outcome"] == "different"
    assert pbx_control.counts()["POST /openapi/v1.0/extension/create"] == 3
    assert len(tenant.pbx_store.extensions) == 3


def test_failing_endpoints_are_named_with_their_error_and_exit_1(
        tenant: Sandbox, redis_server: Any, state: StateStore, pbx_control: Control,
        graph_control: Control, tmp_path: Path) -> None:
    pbx_control.fault(path="/openapi/v1.0/phonebook/list", status=500, count=10)
    graph_control.fault(path="/v1.0/communications/getPresencesByUserId", status=403, count=5)
    graph_control.post("config", {"revoke": ["MailboxSettings.Read"]})

    result, report = run_probe(tenant, redis_server.url, tmp_path / "r.json")

    assert result.returncode == 1
    assert "DIFFERENT: HTTP 500" in line(result.stdout, "pbx phonebook/list")
    assert "HTTP 403" in line(result.stdout, "graph getPresencesByUserId")
    assert "Presence.Read.All" in line(result.stdout, "graph getPresencesByUserId")
    assert "MailboxSettings.Read" in line(result.stdout, "graph mailboxSettings")
    assert line(result.stdout, "graph users").split()[2] == "same"
    assert result.stdout.splitlines()[-2] == "3 differences in 3 of 32 endpoints"
    assert outcome(report, "pbx phonebook/list")["outcome"] == "different"


def test_stored_credentials_come_before_the_environment(
        tenant: Sandbox, redis_server: Any, state: StateStore, tmp_path: Path) -> None:
    values = tenant.describe()
    ConnectionStore(state, SecretBox(SECRET_KEY)).save(
        Credentials(values["tenant_id"], values["client_id"], values["client_secret"]))

    result, _ = run_probe(tenant, redis_server.url, tmp_path / "r.json",
                          env={"ENTRA_CLIENT_SECRET": "not-the-secret"})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "credentials: Graph stored connection" in result.stdout


def test_a_changed_field_type_and_value_are_reported(
        tenant: Sandbox, graph: GraphClient, pbx: PbxClient) -> None:
    user = next(u for u in tenant.graph_store.users.items.values() if u["userType"] == "Member")
    user["accountEnabled"] = "yes"
    next(iter(tenant.pbx_store.extensions.values()))["presence_status"] = "lunch_break"

    report = run_in_process(tenant, graph, pbx)

    checks = {c.name: c for c in report.checks}
    assert "value[].accountEnabled: boolean or null expected, string found (1 of 30)" in \
        checks["graph users"].differences
    assert any("'lunch_break' is not one of available" in d
               for d in checks["pbx extension/list"].differences)
    assert report.different and report.summary() != "no difference"


def run_in_process(sandbox: Sandbox, graph: GraphClient, pbx: PbxClient) -> Report:
    values = sandbox.describe()
    return probe.run(graph=graph, pbx=pbx, pbx_client_id=values["pbx_client_id"],
                     pbx_client_secret=values["pbx_client_secret"], credentials={},
                     targets={})


def test_shapes_compare_types_presence_values_and_items() -> None:
    item = shape("test", id=need("integer"), state=need("string", values=PRESENCE_VALUES))
    answer = shape("test", data=need("array", items=item), total=need("integer"))

    found = differences(answer, {"data": [{"id": 1, "state": "away"}, {"id": "2"},
                                          {"id": 3, "state": "gone"}]})

    assert found == ["data[].id: integer expected, string found (1 of 3)",
                     "data[].state: 'gone' is not one of available, away, business_trip, "
                     "do_not_disturb, lunch, off_work (1 of 3)",
                     "data[].state: missing (1 of 3)", "total: missing"]
    assert each("string", ["a", 1], "phones[]") == [
        "phones[]: string expected, integer found (1 of 2)"]
