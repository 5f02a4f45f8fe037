"""The PBX width policy and `run_bounded`, without a PBX: halving, floor, slow growth, cap."""

from __future__ import annotations

import threading
import time

import pytest

from core.pbx.concurrency import (
    AdaptiveLimit,
    in_phases,
    report_slowdown,
    report_success,
    run_bounded,
)
from core.sync_settings import SettingsInvalid, defaults, merge, pbx_concurrency, validate_document


def test_a_slowdown_halves_the_width_down_to_one_and_no_lower() -> None:
    limit = AdaptiveLimit(8)
    widths = []
    for _ in range(5):
        limit.on_slowdown()
        widths.append(limit.width)
    assert widths == [4, 2, 1, 1, 1]
    assert limit.record() == {"start": 8, "min": 1, "end": 1}


def test_slowdowns_of_requests_sent_before_a_halving_halve_it_once() -> None:
    limit = AdaptiveLimit(8)
    burst = [limit.acquire() for _ in range(4)]
    for slot in burst:
        limit.on_slowdown(slot)
    assert limit.width == 4
    for slot in burst:
        limit.release(slot)
    later = limit.acquire()
    limit.on_slowdown(later)
    assert limit.width == 2


def test_the_width_grows_by_one_after_a_run_of_successes_and_never_past_the_setting() -> None:
    limit = AdaptiveLimit(4, grow_after=3)
    limit.on_slowdown()
    seen = []
    for _ in range(12):
        limit.on_success()
        seen.append(limit.width)
    assert seen == [2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4]
    assert limit.record() == {"start": 4, "min": 2, "end": 4}


def test_a_slowdown_starts_the_run_of_successes_again() -> None:
    limit = AdaptiveLimit(4, grow_after=3)
    limit.on_slowdown()
    limit.on_success()
    limit.on_success()
    limit.on_slowdown()
    limit.on_success()
    limit.on_success()
    assert limit.width == 1


@pytest.mark.parametrize(("asked", "ceiling"), [(0, 1), (1, 1), (16, 16), (40, 16)])
def test_the_width_stays_between_one_and_sixteen(asked: int, ceiling: int) -> None:
    assert AdaptiveLimit(asked).ceiling == ceiling


def test_run_bounded_keeps_item_order_and_never_exceeds_the_width() -> None:
    limit = AdaptiveLimit(4)
    running, peak, lock = [0], [0], threading.Lock()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.005)
        with lock:
            running[0] -= 1
        return n * n

    assert run_bounded(list(range(40)), work, limit) == [n * n for n in range(40)]
    assert 1 < peak[0] <= 4


def test_a_reported_slowdown_narrows_the_items_that_follow() -> None:
    limit = AdaptiveLimit(4)
    running, at_start, lock = [0], {}, threading.Lock()

    def work(n: int) -> None:
        if n == 0:
            report_slowdown()
        with lock:
            running[0] += 1
            at_start[n] = running[0]
        time.sleep(0.01)
        with lock:
            running[0] -= 1

    run_bounded(list(range(30)), work, limit)
    assert limit.record() == {"start": 4, "min": 2, "end": 2}
    assert max(at_start[n] for n in range(8, 30)) <= 2


def test_successes_reported_from_the_work_grow_the_width_back() -> None:
    limit = AdaptiveLimit(4, grow_after=2)

    def work(n: int) -> None:
        if n == 0:
            report_slowdown()
        else:
            report_success()

    run_bounded(list(range(20)), work, limit)
    assert limit.record() == {"start": 4, "min": 2, "end": 4}


def test_reports_outside_any_bounded_work_go_nowhere() -> None:
    report_slowdown()
    report_success()  # nothing governs this thread: no error, no effect


def test_an_escaping_exception_stops_the_dispatch_and_is_raised() -> None:
    limit = AdaptiveLimit(2)
    started: list[int] = []

    def work(n: int) -> None:
        started.append(n)
        if n == 3:
            raise RuntimeError("lock lost")
        time.sleep(0.002)

    with pytest.raises(RuntimeError, match="lock lost"):
        run_bounded(list(range(100)), work, limit)
    assert len(started) < 10 and limit.in_use == 0


def test_width_one_runs_every_item_on_the_calling_thread() -> None:
    threads = run_bounded([1, 2, 3], lambda _n: threading.get_ident(), AdaptiveLimit(1))
    assert threads == [threading.get_ident()] * 3


def test_phases_are_runs_of_equal_rank() -> None:
    assert in_phases([1, 1, 2, 3, 3, 3], lambda n: n) == [[1, 1], [2], [3, 3, 3]]


@pytest.mark.parametrize("value", [0, 17, 4.5, "4", True])
def test_the_setting_refuses_anything_but_a_whole_number_from_1_to_16(value: object) -> None:
    with pytest.raises(SettingsInvalid) as refused:
        merge(defaults(), {"performance": {"pbx_concurrency": value}})
    assert refused.value.errors == {
        "performance.pbx_concurrency": ["must be a whole number from 1 to 16"]}


def test_a_document_saved_before_the_setting_existed_reads_as_4() -> None:
    old = defaults()
    del old["performance"]
    assert pbx_concurrency(old) == 4
    assert validate_document(old)["performance"] == {"pbx_concurrency": 4}
    assert pbx_concurrency(merge(old, {"performance": {"pbx_concurrency": 16}})) == 16
