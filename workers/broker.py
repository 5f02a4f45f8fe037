"""The Redis broker, and sending messages by actor name.

The web app sends through `send()` with a broker of its own (built from its settings), so it
never imports the actors; the worker process builds the broker the actors register on.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries, TimeLimit

QUEUE = "default"
NOTE_CHANGES = "note_changes"
SYNC_CHANGES = "sync_changes"
RUN_SYNC = "run_sync"
RECONCILE = "reconcile"
MAINTAIN_SUBSCRIPTIONS = "maintain_subscriptions"
HANDLE_LIFECYCLE = "handle_lifecycle"
WIND_DOWN = "wind_down_integration"
POLL_PRESENCE = "poll_presence"
PRESENCE_CHANGED = "presence_changed"
CHECK_HEALTH = "check_health"


# A killed worker's unacknowledged messages go back on the queue in the broker's upkeep, which
# Dramatiq runs on one Redis command in `maintenance_chance` per million, for workers silent for
# `heartbeat_timeout`. Its defaults (1,000 and 60 s) leave a run interrupted by a dead worker
# waiting ten minutes or more; these bring it back within about half a minute.
HEARTBEAT_MS = 15_000
WORKER_MAINTENANCE = 50_000


def make_broker(url: str, *, worker: bool = False) -> RedisBroker:
    """A Redis broker; a worker's also counts every message into Redis for /metrics.

    Only workers run the broker's upkeep (requeueing what dead workers held): a web process
    only enqueues, and a request should not pay for a sweep now and then.
    """
    broker = RedisBroker(url=url, namespace="eps-dramatiq", heartbeat_timeout=HEARTBEAT_MS,
                         maintenance_chance=WORKER_MAINTENANCE if worker else 0)
    if worker:
        from workers.metrics import RedisMetrics

        for middleware in list(broker.middleware):
            if isinstance(middleware, Retries | TimeLimit):
                broker.middleware.remove(middleware)
        broker.add_middleware(Retries(max_retries=8, min_backoff=2_000, max_backoff=300_000))
        broker.add_middleware(TimeLimit(time_limit=3_600_000))
        broker.add_middleware(RedisMetrics(url))
    broker.declare_queue(QUEUE)
    return broker


def send(broker: dramatiq.Broker, actor_name: str, *args: Any, delay_ms: int | None = None) -> None:
    """Enqueue a message for the actor named `actor_name`."""
    message = Message(queue_name=QUEUE, actor_name=actor_name, args=args, kwargs={}, options={})
    broker.enqueue(message, delay=delay_ms)
