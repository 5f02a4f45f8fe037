"""Run history in Redis: each run's record, the newest `RUNS_KEPT` listed, older ones deleted
with their per-object results and a preview's settings. Part of `StateStore`."""

from __future__ import annotations

import json
from typing import Any

import redis

from core.engine.runs import Run
from core.store.keys import Keys

RUNS_KEPT = 200  # a run that falls off the newest 200 is deleted with it
RUN_TTL_SECONDS = 90 * 24 * 3600  # only for a record whose listing was lost (a crash between)


class RunHistory:
    """The run records of a `StateStore` (which gives `redis` and `keys`)."""

    redis: redis.Redis
    keys: Keys

    def save_run(self, run: Run | dict[str, Any]) -> None:
        """Keep a run's record; a new run goes first in the history, and the records of the
        runs it pushes past the newest `RUNS_KEPT` are deleted."""
        record = run.to_dict() if isinstance(run, Run) else run
        run_key, text = self.keys.run(record["id"]), json.dumps(record)
        if not self.redis.set(run_key, text, ex=RUN_TTL_SECONDS, nx=True):
            self.redis.set(run_key, text, ex=RUN_TTL_SECONDS)  # an update: listed already
            return
        pipe = self.redis.pipeline()  # MULTI: what is trimmed is exactly what is read
        pipe.lpush(self.keys.runs(), record["id"])
        pipe.lrange(self.keys.runs(), RUNS_KEPT, -1)
        pipe.ltrim(self.keys.runs(), 0, RUNS_KEPT - 1)
        dropped = {_text(i) for i in pipe.execute()[1]} - {record["id"]}
        if dropped:  # with its per-object results and a preview's settings
            self.redis.delete(*(key for i in dropped for key in (
                self.keys.run(i), self.keys.run_objects(i), self.keys.run_document(i))))

    def run(self, run_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.run(run_id))
        return json.loads(raw) if raw else None

    def load_run(self, run_id: str) -> Run | None:
        raw = self.run(run_id)
        return Run.from_dict(raw) if raw else None

    def mark_interrupted(self, at: str, *, keep: str | None = None, limit: int = 50) -> list[str]:
        """Runs left `running` by a worker that died; called while holding the sync lock.

        They end `failed` and `interrupted`: a redelivered message for one of them resumes it.
        """
        marked = []
        for record in self.runs(limit=limit):
            if record["state"] == "running" and record["id"] != keep:
                record |= {"state": "failed", "finished_at": at, "interrupted": True,
                           "error": "interrupted: the worker running it stopped",
                           "summary": "Interrupted: the worker running it stopped; its changes "
                                      "are synced by the next run."}
                self.save_run(record)
                marked.append(record["id"])
        return marked

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        ids = [_text(i) for i in self.redis.lrange(self.keys.runs(), 0, limit - 1)]
        return [r for r in (self.run(i) for i in ids) if r is not None]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
