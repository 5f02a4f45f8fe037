"""Properties of plan + apply, over random directories and rules, against the PBX simulator.

- After apply, planning again yields no operation that would change anything.
- No plan ever deletes an extension that is not linked.

The examples are fixed (the `ci` profile of `tests/hypothesis_profiles.py`), so every run of
`make test` tries the same ones. To look for new failures with many more random examples:

    HYPOTHESIS_PROFILE=explore .venv/bin/python -m pytest tests/test_plan_properties.py

and add what it finds below as an `@example`, next to the failures found before.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tests.hypothesis_profiles  # noqa: F401  (registers and loads the profiles)
from core.clients import pbx_client, sandbox_environment
from core.config import Settings
from core.graph.records import EntraUser
from core.pbx.client import PbxClient
from core.store.redis import StateStore
from core.store.stub import stub_store
from core.sync_settings import defaults
from core.users.apply import apply
from core.users.directory import Directory
from core.users.plan import desired_state, plan
from core.users.records import Delete, Skip
from core.users.sync import read_pbx
from sandbox.runner import Sandbox

NAMES = ["Ada", "Bob", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu"]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, PbxClient]]:
    with Sandbox() as sandbox:
        env = sandbox_environment(sandbox.describe()) | {
            "SECRET_KEY": "plan-properties-key-Xw4Nq9Kd2Lz7Rt1Vm6Hb3"}
        client = pbx_client(Settings.from_env(env))
        yield sandbox, client
        client.token_source.close()


def user_rules(*, range_: str, auto_delete_out_of_range: bool, associate_by_email: bool,
               delete_when: list[str], mode: str, start: str) -> dict[str, Any]:
    rules = copy.deepcopy(defaults()["users"])
    rules.update(range=range_, user_types=["Member"],
                 auto_delete_out_of_range=auto_delete_out_of_range,
                 associate_by_email=associate_by_email, delete_when=delete_when,
                 numbering={"mode": mode, "start": start, "property": "businessPhones"})
    return rules


# Found before: Ada's extension 2000 is deleted as she is disabled, while Ed, becoming a
# Member, claims 2000 — he must get it in the same run, not one run later.
NUMBER_FREED_AND_TAKEN = {
    "users": [{"id": "u0", "name": "Ada", "enabled": True, "guest": False, "title": "",
               "phone": "2000"},
              {"id": "u1", "name": "Ed", "enabled": True, "guest": True, "title": "",
               "phone": "2000"}],
    "rules": user_rules(range_="types", auto_delete_out_of_range=False,
                        associate_by_email=True, delete_when=["disabled"], mode="property",
                        start="1000"),
    "unsynced": [], "second": ["disable", "guest"]}


@st.composite
def tenants(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=0, max_value=len(NAMES)))
    users = []
    for index in range(count):
        users.append({
            "id": f"u{index}", "name": NAMES[index],
            "enabled": draw(st.booleans()), "guest": draw(st.booleans()),
            "title": draw(st.sampled_from(["", "Lead", "Dev"])),
            "phone": draw(st.sampled_from([None, "2000", "2001", f"30{index:02d}", "x12",
                                           "+1 425 555 0109", f"+1 425 x4{index:03d}"])),
        })
    rules = user_rules(
        range_=draw(st.sampled_from(["all", "types"])),
        auto_delete_out_of_range=draw(st.booleans()),
        associate_by_email=draw(st.booleans()),
        delete_when=draw(st.sampled_from([[], ["disabled"], ["deleted"],
                                          ["disabled", "deleted"]])),
        mode=draw(st.sampled_from(["auto", "property"])),
        start=draw(st.sampled_from(["1000", "2000"])))
    unsynced = draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True))
    return {"users": users, "rules": rules, "unsynced": unsynced,
            "second": draw(st.lists(st.sampled_from(["disable", "delete", "retitle", "guest"]),
                                    min_size=count, max_size=count))}


def as_directory(users: list[dict[str, Any]], rules: dict[str, Any],
                 soft_deleted: frozenset[str] = frozenset()) -> Directory:
    records = {u["id"]: EntraUser(
        id=u["id"], display_name=f"{u['name']} Test", given_name=u["name"], surname="Test",
        mail=f"{u['name'].lower()}@contoso.com", job_title=u["title"] or None,
        account_enabled=u["enabled"], user_type="Guest" if u["guest"] else "Member",
        business_phones=(u["phone"],) if u["phone"] else (),
        properties={"businessPhones": [u["phone"]] if u["phone"] else []}) for u in users}
    in_range = {uid for uid, u in records.items()
                if rules["range"] == "all" or u.user_type in rules["user_types"]}
    return Directory(records, frozenset(in_range), soft_deleted)


def sync_once(pbx: PbxClient, state: StateStore, d: Directory, rules: dict[str, Any]) -> None:
    links = state.user_links()
    desired = desired_state(d, rules)
    emails = {w.owned.email_addr.lower() for w in desired.wanted}
    view = read_pbx(pbx, [link.ext_id for link in links.values()], emails)
    ops = plan(desired, view, links, pending=state.pending_creates())
    linked = {link.ext_id for link in links.values()}
    assert all(op.ext_id in linked for op in ops if isinstance(op, Delete))
    outcome = apply(ops, pbx, state, now="2026-01-01T00:00:00Z")
    assert outcome.failures == []


def replan(pbx: PbxClient, state: StateStore, d: Directory, rules: dict[str, Any]) -> list[Any]:
    links = state.user_links()
    desired = desired_state(d, rules)
    view = read_pbx(pbx, [link.ext_id for link in links.values()],
                    {w.owned.email_addr.lower() for w in desired.wanted})
    return [op for op in plan(desired, view, links) if not isinstance(op, Skip)]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tenant=tenants())
@example(tenant=NUMBER_FREED_AND_TAKEN)
def test_after_apply_planning_again_changes_nothing(served: tuple[Sandbox, PbxClient],
                                                   tenant: dict[str, Any]) -> None:
    sandbox, pbx = served
    with sandbox.pbx_store.lock:
        sandbox.pbx_store.extensions.clear()
    state = stub_store()
    for index, name in enumerate(tenant["unsynced"]):
        pbx.create_extension({"number": str(1000 + 2 * index), "first_name": name,
                              "email_addr": f"{name.lower()}@contoso.com",
                              "user_password": "Secret12345x", "reg_name": "r" + name,
                              "reg_password": "reg-pass-123", "concurrent_registrations": 1,
                              "presence_status": "available"})
    rules, users = tenant["rules"], tenant["users"]

    first = as_directory(users, rules)
    sync_once(pbx, state, first, rules)
    assert replan(pbx, state, first, rules) == []

    changed, deleted = [], set()
    for u, change in zip(users, tenant["second"], strict=True):
        u = dict(u)
        if change == "disable":
            u["enabled"] = False
        elif change == "retitle":
            u["title"] = "Director"
        elif change == "guest":
            u["guest"] = not u["guest"]
        elif change == "delete":
            deleted.add(u["id"])
            continue
        changed.append(u)
    second = as_directory(changed, rules, frozenset(list(deleted)[:1]))
    sync_once(pbx, state, second, rules)
    assert replan(pbx, state, second, rules) == []
