"""The run skeleton with parts of its own making: states, the guard, dry run, a lost lock."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from core.engine.collector import RUN_THRESHOLD
from core.engine.engine import Context, execute
from core.engine.lock import LockLost
from core.engine.outcome import Outcome
from core.engine.rules import situation_of
from core.engine.runs import Run
from core.errors import GraphError
from core.store.stub import stub_store
from core.sync_settings import defaults


@dataclass(frozen=True)
class Make:
    key: str
    label: str


@dataclass(frozen=True)
class Drop:
    key: str
    label: str
    reason: str = "gone"


class Part:
    """A part whose plan is given, and whose apply fails the keys it is told to."""

    kinds = {Make: "created", Drop: "deleted"}
    deletions = {Drop: "contact"}

    def __init__(self, name: str, ops: Sequence[Any], *, refuse: frozenset[str] = frozenset(),
                 read_error: Exception | None = None) -> None:
        self.name, self.ops, self.refuse, self.read_error = name, tuple(ops), refuse, read_error
        self.applied: list[Any] = []

    def read(self, ctx: Context) -> None:
        if self.read_error:
            raise self.read_error

    def plan(self, snapshot: Any, ctx: Context) -> tuple[Any, ...]:
        return self.ops

    def apply(self, ops: Sequence[Any], ctx: Context) -> Outcome:
        outcome = Outcome()
        for op in ops:
            ctx.fence()
            if op.key in self.refuse:
                outcome.fail(op, "the PBX said no")
                continue
            self.applied.append(op)
            outcome.counts[self.kinds[type(op)]] += 1
        return outcome

    def finish(self, snapshot: Any, outcome: Outcome, held: bool, ctx: Context) -> int:
        return len(self.applied)


@pytest.fixture
def ctx() -> Context:
    document = defaults() | {"safety": {"max_deletions": 2}}
    return Context(graph=None, pbx=None, store=stub_store(),
                   document=document)


def test_failed_writes_end_the_run_partial_and_the_summary_counts_them(ctx: Context) -> None:
    part = Part("users", [Make("a", "Ada"), Make("b", "Bob"), Make("c", "Cy")],
                refuse=frozenset({"b"}))

    run = execute(Run.new("users"), [part], ctx)

    assert run.state == "partial" and run.counts["created"] == 2 and run.counts["failed"] == 1
    assert run.summary.startswith("Synced 2 users to PBX extensions with 1 failure (")
    assert ctx.store.run(run.id)["state"] == "partial"


def test_deletions_past_the_limit_are_held_and_the_rest_applied(ctx: Context) -> None:
    part = Part("contacts", [Drop(k, k.upper()) for k in "xyz"] + [Make("n", "New")])

    run = execute(Run.new("contacts"), [part], ctx)

    assert run.state == "blocked" and part.applied == [Make("n", "New")]
    assert [(h["kind"], h["name"]) for h in run.held_deletions] == [
        ("contact", "X"), ("contact", "Y"), ("contact", "Z")]
    allowed = execute(Run.new("contacts", allow_deletions=True), [part], ctx)
    assert allowed.state == "succeeded" and allowed.counts["deleted"] == 3


def test_a_failed_read_changes_nothing_and_a_dry_run_writes_nothing(ctx: Context) -> None:
    broken = Part("groups", [Make("g", "G")],
                  read_error=GraphError("GET", "https://graph/groups", 503, "", "ServiceUnavailable",
                                         "down"))
    dry = Part("users", [Make("a", "Ada")])

    failed = execute(Run.new("groups"), [broken], ctx)
    planned = execute(Run.new("users", dry_run=True), [dry], ctx)

    assert failed.state == "failed" and "nothing was changed" in failed.summary
    assert broken.applied == [] and dry.applied == []
    assert planned.state == "succeeded" and planned.counts["created"] == 1


def test_a_run_that_loses_its_lock_stops_before_its_next_write(ctx: Context) -> None:
    writes = [0]

    def fence() -> None:
        writes[0] += 1  # checked once before the part's writes, then before each write
        if writes[0] > 2:
            raise LockLost("lost the sync lock eps:lock:sync: another run holds it")

    ctx.fence = fence
    users = Part("users", [Make("a", "Ada"), Make("b", "Bob")])
    groups = Part("groups", [Make("g", "G")])

    run = execute(Run.new("all"), [users, groups], ctx)

    assert run.state == "failed" and "lost the sync lock" in str(run.error)
    assert users.applied == [Make("a", "Ada")] and groups.applied == []
    assert list(run.parts) == ["users"]


class Unreachable(Part):
    """A part whose apply meets an error from the state store, as when Redis restarts."""

    def apply(self, ops: Sequence[Any], ctx: Context) -> Outcome:
        raise ConnectionError("Connection closed by server.")


def test_an_error_mid_run_is_told_as_the_lost_lock_when_the_lock_went_with_it(
        ctx: Context) -> None:
    checks = [0]

    def fence() -> None:  # held before the writes; gone when asked after the error
        checks[0] += 1
        if checks[0] > 1:
            raise LockLost("lost the sync lock eps:lock:sync: Redis holds another value or none")

    ctx.fence = fence
    users, groups = Unreachable("users", [Make("a", "Ada")]), Part("groups", [Make("g", "G")])

    run = execute(Run.new("all"), [users, groups], ctx)

    assert run.state == "failed" and "lost the sync lock" in str(run.error)
    assert list(run.parts) == ["users"] and groups.applied == []


def test_an_error_mid_run_with_the_lock_still_held_is_an_unexpected_error(
        ctx: Context) -> None:
    run = execute(Run.new("users"), [Unreachable("users", [Make("a", "Ada")])], ctx)

    assert run.state == "failed" and "unexpected error (ConnectionError)" in str(run.error)


def test_a_run_of_several_parts_holds_each_result_and_their_sums(ctx: Context) -> None:
    run = execute(Run.new("all"), [Part("users", [Make("a", "A")]),
                                   Part("groups", [Make("g", "G"), Make("h", "H")])], ctx)

    assert run.state == "succeeded" and set(run.parts) == {"users", "groups"}
    assert run.counts["created"] == 3 and run.parts["groups"]["counts"]["created"] == 2


def test_switches_set_while_lost_stay_unconfirmed_until_the_settings_are_saved() -> None:
    store = stub_store()
    store.save_settings(defaults() | {"users": defaults()["users"] | {"enabled": True}})
    store.mark_saved("users")  # configured once; then the switches were evicted

    store.set_flags(groups_paused=True)  # e.g. a pause of group sync, or a secret rotation
    lost = situation_of(store, connected=True)
    store.set_flags(confirm=True)  # what a save of the settings does
    saved = situation_of(store, connected=True)

    assert lost.why_not("users") is not None and lost.why_not("users").reason == "not_configured"
    assert lost.lost
    assert saved.why_not("users") is None and saved.why_not("groups").reason == "paused"


def test_a_dry_run_shows_the_deletions_the_guard_would_hold(ctx: Context) -> None:
    part = Part("contacts", [Drop(k, k.upper()) for k in "xyz"] + [Make("n", "New")])

    run = execute(Run.new("contacts", dry_run=True), [part], ctx)

    assert run.state == "blocked" and part.applied == []
    assert run.counts["created"] == 1 and run.counts["deleted"] == 0
    assert len(run.held_deletions) == 3 and "3 deletions would be held back" in run.summary


class Watching(Part):
    """A part that notes the collector's young threshold while it reads, and can wait there."""

    def __init__(self, name: str, *, hold: threading.Event | None = None,
                 reading: threading.Event | None = None) -> None:
        super().__init__(name, [Make("a", "Ada")])
        self.hold, self.reading, self.seen = hold, reading, -1

    def read(self, ctx: Context) -> None:
        self.seen = gc.get_threshold()[0]
        if self.reading:
            self.reading.set()
        if self.hold:
            assert self.hold.wait(10)


@pytest.fixture
def threshold() -> Iterator[tuple[int, ...]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_a_run_raises_the_collectors_threshold_and_puts_it_back(
        ctx: Context, threshold: tuple[int, ...]) -> None:
    part = Watching("users")

    execute(Run.new("users"), [part], ctx)

    assert part.seen == RUN_THRESHOLD and gc.get_threshold() == threshold


def test_the_threshold_comes_back_when_the_last_of_two_overlapping_runs_ends(
        ctx: Context, threshold: tuple[int, ...]) -> None:
    hold, reading = threading.Event(), threading.Event()
    first = Watching("users", hold=hold, reading=reading)
    running = threading.Thread(target=execute, args=(Run.new("users"), [first], ctx))
    running.start()
    assert reading.wait(10)
    second = Watching("groups")

    execute(Run.new("groups"), [second], ctx)
    during = gc.get_threshold()[0]
    hold.set()
    running.join(10)

    assert (first.seen, second.seen, during) == (RUN_THRESHOLD,) * 3
    assert gc.get_threshold() == threshold


def test_a_failed_run_puts_the_threshold_back_and_a_collector_switched_off_stays_off(
        ctx: Context, threshold: tuple[int, ...]) -> None:
    failing = Part("users", [], read_error=GraphError("GET", "users", 503, "", "", "busy"))
    execute(Run.new("users"), [failing], ctx)
    restored = gc.get_threshold()
    gc.set_threshold(0)
    part = Watching("users")

    execute(Run.new("users"), [part], ctx)

    assert restored == threshold and part.seen == 0 and gc.get_threshold()[0] == 0
