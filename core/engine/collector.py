"""Fewer passes of Python's garbage collector while a run is under way.

A run keeps what it read until it ends: for 10,000 users, a few hundred thousand small
records, none of them garbage. CPython passes over the young objects every 700 new
container objects, over older ones after ten such passes, and over every object now and
then as the heap grows. A no-op re-sync of 10,000 users paid about 250 passes that found
next to nothing: about 0.1 s, a sixth of its CPU, held under the GIL while the threads that
read the PBX waited. During a run the young threshold is raised to RUN_THRESHOLD.
Reference counting still frees at once everything that is not in a cycle, and the
collector still runs, about 70 times less often. Runs may overlap in one process (a
worker's threads); the default comes back when the last one ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

RUN_THRESHOLD = 50_000

_lock = threading.Lock()
_runs = 0
_before: tuple[int, ...] = ()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The young threshold at RUN_THRESHOLD or above for the duration; a threshold of 0 (the
    collector switched off) is left as it is."""
    global _runs, _before
    with _lock:
        if _runs == 0:
            _before = gc.get_threshold()
            if 0 < _before[0] < RUN_THRESHOLD:
                gc.set_threshold(RUN_THRESHOLD, *_before[1:])
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.set_threshold(*_before)
