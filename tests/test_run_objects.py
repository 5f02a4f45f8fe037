"""Per-object results of runs: a row per planned operation, kept bounded, deleted with the run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from core.engine.engine import Context, execute
from core.engine.outcome import Outcome
from core.engine.runs import Run
from core.store.objects import RunObjects
from core.store.runs import RUNS_KEPT
from core.store.stub import stub_store
from core.sync_settings import defaults


@dataclass(frozen=True)
class Create:
    user_id: str
    label: str
    number: str


@dataclass(frozen=True)
class Delete:
    user_id: str
    label: str
    number: str
    ext_id: int
    reason: str = "account deleted"


class Users:
    """A users part whose plan is given, and whose apply fails the numbers it is told to."""

    name = "users"
    kinds = {Create: "created", Delete: "deleted"}
    deletions = {Delete: "extension"}

    def __init__(self, ops: Sequence[Any], refuse: frozenset[str] = frozenset()) -> None:
        self.ops, self.refuse = tuple(ops), refuse

    def read(self, ctx: Context) -> None:
        return None

    def plan(self, snapshot: Any, ctx: Context) -> tuple[Any, ...]:
        return self.ops

    def apply(self, ops: Sequence[Any], ctx: Context) -> Outcome:
        outcome = Outcome()
        for op in ops:
            if op.number in self.refuse:
                outcome.fail(op, f"the PBX refused {op.number}")
            else:
                outcome.counts[self.kinds[type(op)]] += 1
        return outcome

    def finish(self, snapshot: Any, outcome: Outcome, held: bool, ctx: Context) -> int:
        return 0


@pytest.fixture
def ctx() -> Context:
    return Context(graph=None, pbx=None, store=stub_store(),
                   document=defaults() | {"safety": {"max_deletions": 1}})


def outcomes(ctx: Context, run: Run) -> list[tuple[str, str, str]]:
    return [(r["outcome"], r["name"], r["extension"]) for r in ctx.store.objects.rows(run.id)]


def test_a_failure_is_listed_against_the_very_operation_that_failed(ctx: Context) -> None:
    twins = [Create("u1", "Ann", "1000"), Create("u1", "Ann", "1000"), Create("u2", "Bob", "1001")]

    run = execute(Run.new("users"), [Users(twins, refuse=frozenset({"1001"}))], ctx)

    assert outcomes(ctx, run) == [("created", "Ann", "1000"), ("created", "Ann", "1000"),
                                  ("failed", "Bob", "1001")]
    failed = next(r for r in ctx.store.objects.rows(run.id) if r["outcome"] == "failed")
    assert failed == {"part": "users", "outcome": "failed", "name": "Bob", "object_id": "u2",
                      "extension": "1001", "reason": "the PBX refused 1001", "planned": False}
    assert run.objects_total == 3 and not run.objects_truncated
    assert run.counts["created"] == 2 and run.failures_total == 1


def test_a_dry_run_lists_planned_rows_and_holds_deletions_past_the_limit(ctx: Context) -> None:
    ops = [Delete("u1", "Ann", "1000", 1), Delete("u2", "Bob", "1001", 2),
           Create("u3", "Cy", "1002")]

    run = execute(Run.new("users", dry_run=True), [Users(ops)], ctx)

    rows = list(ctx.store.objects.rows(run.id))
    assert [(r["outcome"], r["name"]) for r in rows] == [("created", "Cy"), ("held", "Ann"),
                                                         ("held", "Bob")]
    assert all(r["planned"] for r in rows)
    assert rows[1]["reason"] == ("more than safety.max_deletions (1) deletions in one run; "
                                 "account deleted")


def test_rows_past_the_bound_are_dropped_and_the_run_says_so(ctx: Context) -> None:
    ctx.store.objects = RunObjects(ctx.store.redis, ctx.store.keys, 60, max_rows=2)
    ops = [Create(f"u{i}", f"User {i}", str(1000 + i)) for i in range(3)]

    run = execute(Run.new("users"), [Users(ops)], ctx)

    assert run.objects_total == 3 and run.objects_truncated
    assert ctx.store.objects.count(run.id) == 2
    assert ctx.store.run(run.id)["objects_truncated"] is True


def test_search_matches_any_field_ignoring_case_and_filters_are_exact(ctx: Context) -> None:
    ops = [Create("u1", "Ann Lee", "1000"), Create("u2", "Bob", "1001")]
    run = execute(Run.new("users"), [Users(ops, refuse=frozenset({"1000"}))], ctx)
    objects = ctx.store.objects

    assert [r["name"] for r in objects.matching(run.id, q="LEE")] == ["Ann Lee"]
    assert [r["name"] for r in objects.matching(run.id, q="1001")] == ["Bob"]
    assert [r["name"] for r in objects.matching(run.id, q="refused")] == ["Ann Lee"]
    assert [r["name"] for r in objects.matching(run.id, outcomes={"created"})] == ["Bob"]
    assert list(objects.matching(run.id, parts={"groups"})) == []


def test_the_rows_of_a_run_go_when_its_record_falls_off_the_history(ctx: Context) -> None:
    first = execute(Run.new("users"), [Users([Create("u1", "Ann", "1000")])], ctx)
    ctx.store.proposed.put(first.id, defaults())
    assert ctx.store.objects.count(first.id) == 1

    for _ in range(RUNS_KEPT):
        ctx.store.save_run(Run.new("users"))

    assert ctx.store.run(first.id) is None
    assert ctx.store.objects.count(first.id) == 0 and ctx.store.proposed.get(first.id) is None
