"""A Dramatiq middleware that counts messages per actor into Redis, for the web's /metrics.

Counters live in one Redis hash, so the web app can export what every worker process did.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import dramatiq
import redis

from core.store.keys import Keys


class RedisMetrics(dramatiq.Middleware):
    def __init__(self, url: str, keys: Keys | None = None) -> None:
        self.redis = redis.Redis.from_url(url)
        self.key = (keys or Keys()).metrics()
        self.started: dict[str, float] = {}
        self.lock = threading.Lock()

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        with self.lock:
            self.started[message.message_id] = time.monotonic()

    def after_process_message(self, broker: dramatiq.Broker, message: Any, *,
                              result: Any = None, exception: BaseException | None = None) -> None:
        with self.lock:
            started = self.started.pop(message.message_id, time.monotonic())
        outcome = "failed" if exception is not None else "succeeded"
        try:
            pipe = self.redis.pipeline()
            pipe.hincrby(self.key, f"{message.actor_name}|{outcome}", 1)
            pipe.hincrbyfloat(self.key, f"{message.actor_name}|seconds",
                              time.monotonic() - started)
            pipe.execute()
        except redis.RedisError:
            pass  # metrics must never fail a message

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self.after_process_message(broker, message, exception=RuntimeError("skipped"))
