"""The state store's in-memory twin, for unit tests.

As Dramatiq ships `brokers/stub.py` beside its Redis broker, this is the same `StateStore`
over fakeredis: the same key names and code paths, with no Redis server to start. Tests that
need what only a real server does (expiry in real time, several processes, a restart) use the
`state` fixture on a real redis-server instead. fakeredis is a dev dependency, imported only
when a stub is asked for, so production never imports it.
"""

from __future__ import annotations

from core.store.redis import StateStore


def stub_store(namespace: str = "eps") -> StateStore:
    """A StateStore over a fresh, empty in-memory Redis."""
    import fakeredis

    return StateStore(fakeredis.FakeRedis(), namespace)
