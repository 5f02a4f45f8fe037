"""Run records stay bounded: 200 runs kept, and a bound on the objects each record lists."""

from __future__ import annotations

import datetime as dt
import json

from core.engine.runs import OBJECTS_KEPT, PartResult, Run
from core.store.runs import RUNS_KEPT
from core.store.stub import stub_store

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def rows(count: int, reason: str) -> list[dict[str, str]]:
    return [{"user_id": f"u{i}", "name": f"User {i}", "reason": reason} for i in range(count)]


def test_a_run_that_falls_off_the_history_is_deleted_with_it() -> None:
    store = stub_store()
    first = Run.new("users")
    store.save_run(first)
    for _ in range(RUNS_KEPT):
        store.save_run(Run.new("users"))

    kept = [k for k in store.redis.scan_iter(match=store.keys.run("*"))]
    assert store.run(first.id) is None
    assert len(kept) == store.redis.llen(store.keys.runs()) == RUNS_KEPT


def test_saving_a_run_again_keeps_one_entry_for_it() -> None:
    store = stub_store()
    run = Run.new("users")
    store.save_run(run)
    run.start(NOW)
    store.save_run(run)

    assert [r["id"] for r in store.runs()] == [run.id]


def test_a_run_lists_a_bounded_number_of_objects_and_counts_them_all() -> None:
    over = OBJECTS_KEPT + 250
    users = PartResult("users", "blocked", counts={"skipped": over, "failed": over},
                       failures=rows(over, "the PBX said no"),
                       skipped=rows(over, "the PBX has no free extension capacity"),
                       held_deletions=rows(over, "gone"), synced=3).close(False)
    groups = PartResult("groups", "partial", counts={"failed": 2},
                        failures=rows(2, "refused")).close(False)
    run = Run.new("all", now=NOW)
    run.start(NOW)

    run.add(users)
    run.add(groups)
    run.finish(NOW)
    stored = stub_store()
    stored.save_run(run)
    record = stored.run(run.id)

    assert record is not None
    assert (record["counts"]["failed"], record["counts"]["skipped"]) == (over + 2, over)
    assert (record["failures_total"], record["skipped_total"], record["held_total"]) == (
        over + 2, over, over)
    assert [len(record[k]) for k in ("failures", "skipped", "held_deletions")] == [
        OBJECTS_KEPT] * 3
    part = record["parts"]["users"]
    assert [len(part[k]) for k in ("failures", "skipped", "held_deletions")] == [OBJECTS_KEPT] * 3
    assert (part["failures_total"], part["skipped_total"], part["held_total"]) == (
        over, over, over)
    assert record["parts"]["groups"]["failures_total"] == 2
    assert f"{over} deletions were held back" in record["summary"]
    assert f"with {over} failures" in record["summary"]
    assert record["state"] == "blocked"


def test_a_record_from_before_the_totals_reads_its_totals_from_its_lists() -> None:
    old = Run.new("users", now=NOW).to_dict()
    for name in ("failures_total", "skipped_total", "held_total"):
        old.pop(name, None)
    old["failures"] = rows(3, "refused")

    assert Run.from_dict(json.loads(json.dumps(old))).failures_total == 3


def test_the_bound_is_generous_enough_for_a_per_object_view() -> None:
    assert OBJECTS_KEPT >= 1000
