"""What a run keeps beside its record: its per-object results and a preview's settings.

Rows are JSON strings in a Redis list, in plan order, at most `MAX_ROWS` a run; they are
written in chunks through one pipeline, and deleted with the run's record (core/store/redis.py).
Searching reads a run's rows and filters them here: at most 50,000 rows of about 200 bytes, so
a search costs one pass over about 10 MB at worst, and a usual run lists a few hundred.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from core.store.keys import Keys

MAX_ROWS = 50_000
CHUNK = 1_000
SEARCHED = ("name", "object_id", "extension", "reason")
DOCUMENT_TTL_SECONDS = 24 * 3600  # a preview that has not run in a day never will


class RunObjects:
    """The per-object results of runs, by run id."""

    def __init__(self, client: Any, keys: Keys, ttl: int, *, max_rows: int = MAX_ROWS) -> None:
        self.redis, self.keys, self.ttl, self.max_rows = client, keys, ttl, max_rows

    def add(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Append `rows` while there is room; how many were kept."""
        key = self.keys.run_objects(run_id)
        rows = list(rows)
        kept = rows[: max(self.max_rows - int(self.redis.llen(key)), 0)]
        if not kept:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for start in range(0, len(kept), CHUNK):
            pipe.rpush(key, *(json.dumps(r) for r in kept[start : start + CHUNK]))
        pipe.expire(key, self.ttl)  # as long as a record whose listing was lost
        pipe.execute()
        return len(kept)

    def count(self, run_id: str) -> int:
        return int(self.redis.llen(self.keys.run_objects(run_id)))

    def rows(self, run_id: str) -> Iterator[dict[str, Any]]:
        """Every row of a run, in order."""
        key = self.keys.run_objects(run_id)
        start = 0
        while chunk := self.redis.lrange(key, start, start + CHUNK - 1):
            yield from (json.loads(raw) for raw in chunk)
            start += CHUNK

    def matching(self, run_id: str, *, q: str = "", outcomes: Collection[str] = (),
                 parts: Collection[str] = ()) -> Iterator[dict[str, Any]]:
        """The rows whose outcome and part are among those given (any when none are), and
        which hold `q` in their name, object id, extension or reason, ignoring case."""
        needle = q.casefold()
        for found in self.rows(run_id):
            if outcomes and found.get("outcome") not in outcomes:
                continue
            if parts and found.get("part") not in parts:
                continue
            if needle and not any(needle in str(found.get(f, "")).casefold() for f in SEARCHED):
                continue
            yield found

    def clear(self, run_id: str) -> None:
        self.redis.delete(self.keys.run_objects(run_id))


class ProposedSettings:
    """The settings document a preview plans with, kept a day."""

    def __init__(self, client: Any, keys: Keys) -> None:
        self.redis, self.keys = client, keys

    def put(self, run_id: str, document: Mapping[str, Any]) -> None:
        self.redis.set(self.keys.run_document(run_id), json.dumps(document),
                       ex=DOCUMENT_TTL_SECONDS)

    def get(self, run_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.run_document(run_id))
        return json.loads(raw) if raw else None
