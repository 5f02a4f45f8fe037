"""`/metrics` in Prometheus text: the web app's counters, and what workers recorded in Redis."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from core.store.redis import StateStore

KINDS = ("users", "groups")


class _RedisCollector(Collector):
    def __init__(self, state: StateStore) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        messages = CounterMetricFamily("eps_worker_messages", "Messages processed by workers",
                                       labels=["actor", "outcome"])
        seconds = CounterMetricFamily("eps_worker_seconds", "Time workers spent per actor",
                                      labels=["actor"])
        pending = GaugeMetricFamily("eps_pending_changes", "Changes waiting for a sync",
                                    labels=["kind"])
        try:
            for key, value in self.state.redis.hgetall(self.state.keys.metrics()).items():
                actor, _, what = key.decode().partition("|")
                if what == "seconds":
                    seconds.add_metric([actor], float(value))
                else:
                    messages.add_metric([actor, what], float(value))
            for kind in KINDS:
                pending.add_metric([kind], float(self.state.redis.scard(
                    self.state.keys.debounce_pending(kind))))
        except redis.RedisError:
            return
        yield from (messages, seconds, pending)


class Metrics:
    """The web's counters, and what workers recorded in Redis.

    Under gunicorn (webhook/gunicorn_conf.py) each worker process writes its counters to the
    shared PROMETHEUS_MULTIPROC_DIR and a scrape sums them; without it they live in memory.
    """

    def __init__(self, state: StateStore) -> None:
        self.registry = CollectorRegistry()
        self.notifications = Counter("eps_notifications", "Change notifications by outcome",
                                     ["outcome"], registry=self.registry)
        self.lifecycle = Counter("eps_lifecycle_notifications", "Lifecycle notifications",
                                 ["event"], registry=self.registry)
        self.workers = _RedisCollector(state)
        self.registry.register(self.workers)
        self._outcomes: dict[str, Any] = {}

    def notification(self, outcome: str, count: int = 1) -> None:
        """Count `count` change notifications with `outcome`. The labelled counter is looked
        up once per outcome, not on every notification."""
        counter = self._outcomes.get(outcome)
        if counter is None:
            counter = self._outcomes.setdefault(outcome, self.notifications.labels(outcome))
        counter.inc(count)

    def render(self) -> bytes:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(self.workers)
        return generate_latest(registry)
