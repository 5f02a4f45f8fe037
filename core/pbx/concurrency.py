"""How many PBX requests run at once: `AdaptiveLimit`, and `run_bounded` that obeys it.

The width starts at `performance.pbx_concurrency`. The PBX documents no request rate
(contracts/yeastar.md §4), so the client learns it: every answer is reported to the limit that
governs the thread it came on. A slowdown — a 5xx or 429, a timeout, errcode 70082
OVERLOAD_TASK_RUNNING or -2 INTERNAL SERVER ERROR — halves the width (never below 1); after
`grow_after` plain answers in a row it grows by one, never above the setting. 60002 MAX
LIMITATION EXCEEDED is not a slowdown: it says a quantity is used up (extensions, groups, the
8 live tokens), which waiting does not change.

Requests already in flight when the width was halved were sent at the old width: their
slowdowns are one burst, and halve it once, not once each.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby
from typing import Any, TypeVar

MAX_WIDTH = 16  # the setting's upper bound; the client's connection pool holds as many
DEFAULT_WIDTH = 4
GROW_AFTER = 16  # plain answers in a row before the width grows by one

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Slot:
    """One place in the limit, held by one item's work; `generation` is the halvings seen."""

    limit: AdaptiveLimit
    generation: int


class AdaptiveLimit:
    """A width between 1 and `ceiling`: halved on a slowdown, grown by one after
    `grow_after` successes in a row."""

    def __init__(self, ceiling: int = DEFAULT_WIDTH, *, grow_after: int = GROW_AFTER) -> None:
        self.ceiling = max(1, min(MAX_WIDTH, int(ceiling)))
        self.width = self.ceiling
        self.lowest = self.ceiling
        self.grow_after = grow_after
        self.in_use = 0
        self._streak = 0
        self._generation = 0
        self._changed = threading.Condition()

    def acquire(self) -> Slot:
        """Wait for a free place within the current width, and take it."""
        with self._changed:
            while self.in_use >= self.width:
                self._changed.wait()
            self.in_use += 1
            return Slot(self, self._generation)

    def release(self, _slot: Slot) -> None:
        with self._changed:
            self.in_use -= 1
            self._changed.notify_all()

    def on_success(self) -> None:
        with self._changed:
            self._streak += 1
            if self._streak >= self.grow_after and self.width < self.ceiling:
                self.width += 1
                self._streak = 0
                self._changed.notify_all()

    def on_slowdown(self, slot: Slot | None = None) -> None:
        """Halve the width, unless `slot` was taken before the last halving (one burst)."""
        with self._changed:
            self._streak = 0
            if slot is not None and slot.generation != self._generation:
                return
            self.width = max(1, self.width // 2)
            self.lowest = min(self.lowest, self.width)
            self._generation += 1

    def record(self) -> dict[str, int]:
        """The width at the start, its lowest, and at the end: for a run's record."""
        with self._changed:
            return {"start": self.ceiling, "min": self.lowest, "end": self.width}


# the Slot of the work running in this context, if any (a context, not a thread: a page read
# ahead on a thread of its own is still governed by the work that asked for it)
_governing: contextvars.ContextVar[Slot | None] = contextvars.ContextVar("governing", default=None)


def report_success() -> None:
    """The PBX answered a request of this thread's work normally."""
    slot = _governing.get()
    if slot is not None:
        slot.limit.on_success()


def report_slowdown() -> None:
    """The PBX asked a request of this thread's work to slow down (5xx, timeout, busy)."""
    slot = _governing.get()
    if slot is not None:
        slot.limit.on_slowdown(slot)


def run_bounded(items: Sequence[T], work: Callable[[T], R], limit: AdaptiveLimit) -> list[R]:
    """`work(item)` for every item, at most `limit.width` at once; the results in item order.

    An exception escaping `work` (the lock was lost, a defect) stops the dispatch: items not
    started are not started, those in flight finish, and the exception is raised here.
    """
    if limit.ceiling == 1 or len(items) <= 1:
        return [_governed(work, item, limit.acquire()) for item in items]
    failed = threading.Event()

    def guarded(item: T, slot: Slot) -> R:
        try:
            return _governed(work, item, slot)
        except BaseException:
            failed.set()
            raise

    futures: list[Future[R]] = []
    with ThreadPoolExecutor(max_workers=limit.ceiling, thread_name_prefix="pbx") as pool:
        for item in items:
            slot = limit.acquire()
            if failed.is_set():
                limit.release(slot)
                break
            futures.append(pool.submit(guarded, item, slot))
    return [future.result() for future in futures]  # raises the first failure in item order


def _governed(work: Callable[[T], R], item: T, slot: Slot) -> R:
    governed = _governing.set(slot)
    try:
        return work(item)
    finally:
        _governing.reset(governed)
        slot.limit.release(slot)


def in_phases(items: Iterable[T], rank: Callable[[T], Any]) -> list[list[T]]:
    """`items` (already sorted by `rank`) cut into runs of equal rank: phases of an apply,
    each finished before the next starts."""
    return [list(group) for _, group in groupby(items, key=rank)]
