"""Paged reads ask for the next page while the caller works on the one before
(`core.http.read_ahead`): pages in order, one read in flight, failures where they belong."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

import pytest

from core.http import read_ahead

WHO = contextvars.ContextVar("who", default="nobody")


class Pages:
    """Pages 1..`last` of a fake collection; records each read and the thread and context it
    ran in."""

    def __init__(self, last: int, *, fail_at: int | None = None) -> None:
        self.last, self.fail_at = last, fail_at
        self.read: list[int] = []
        self.asked = {n: threading.Event() for n in range(1, last + 2)}
        self.in_flight = 0
        self.most_in_flight = 0
        self.seen_by: list[str] = []
        self._lock = threading.Lock()

    def get(self, number: int) -> int:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self.asked[number].set()
            self.seen_by.append(WHO.get())
            if number == self.fail_at:
                raise RuntimeError(f"page {number} failed")
            self.read.append(number)
            return number
        finally:
            with self._lock:
                self.in_flight -= 1

    def following(self, page: int) -> Callable[[], int] | None:
        return (lambda: self.get(page + 1)) if page < self.last else None


def test_every_page_comes_in_order_with_one_read_at_a_time() -> None:
    pages = Pages(6)
    assert list(read_ahead(pages.get(1), pages.following)) == [1, 2, 3, 4, 5, 6]
    assert pages.read == [1, 2, 3, 4, 5, 6]
    assert pages.most_in_flight == 1


def test_the_next_page_is_read_while_the_caller_handles_this_one() -> None:
    pages = Pages(3)
    reader = read_ahead(pages.get(1), pages.following)
    assert next(reader) == 1
    # the caller is still busy with page 1: page 2 is asked for all the same
    assert pages.asked[2].wait(timeout=5), "page 2 was not read while page 1 was handled"
    assert not pages.asked[3].is_set(), "more than one page was read ahead"
    assert list(reader) == [2, 3]


def test_a_failed_read_raises_where_its_page_would_have_come() -> None:
    pages = Pages(5, fail_at=3)
    got = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for page in read_ahead(pages.get(1), pages.following):
            got.append(page)
    assert got == [1, 2]
    assert 4 not in pages.asked or not pages.asked[4].is_set()


def test_a_caller_that_stops_early_leaves_no_read_running() -> None:
    pages = Pages(10)
    reader = read_ahead(pages.get(1), pages.following)
    assert next(reader) == 1
    reader.close()  # waits for the one read in flight
    assert pages.read == [1, 2] and pages.in_flight == 0
    assert not pages.asked[3].is_set()


def test_the_read_runs_in_the_callers_context() -> None:
    pages = Pages(3)

    def sync() -> list[int]:
        WHO.set("the sync")
        return list(read_ahead(pages.get(1), pages.following))

    assert contextvars.copy_context().run(sync) == [1, 2, 3]
    assert pages.seen_by == ["the sync"] * 3
