"""Dramatiq wiring: the Redis broker every actor module registers on."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from core.config import DEFAULT_REDIS_URL


def make_broker(url: str | None = None) -> RedisBroker:
    """A Redis broker for `url` (default `REDIS_URL`)."""
    return RedisBroker(url=url or os.environ.get("REDIS_URL", DEFAULT_REDIS_URL))


broker = make_broker()
dramatiq.set_broker(broker)
