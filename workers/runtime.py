"""What actors need in one worker process, built once from the environment."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError

from core.clients import pbx_client
from core.config import Settings
from core.connection import ConnectionStore, Credentials, client_for
from core.debounce import Debouncer
from core.errors import ConfigError
from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.presence.subscription import PresenceAuthorization, delegated_client
from core.secret_box import SecretBox
from core.store.redis import StateStore
from core.subscriptions import SubscriptionStore

LOCK_NAME = "eps:lock:sync"
LOCK_TTL = 30.0  # a killed worker's lock is free again after this long


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.state = StateStore(self.redis)
        self.box = SecretBox(settings.secret_key)
        self.connection = ConnectionStore(self.state, self.box)
        self.subscriptions = SubscriptionStore(self.state, self.box)
        self.presence_authorization = PresenceAuthorization(self.state, self.box)
        self.debouncer = Debouncer(self.redis, window=settings.debounce_window_seconds,
                                   max_changes=settings.debounce_max_changes)
        self._pbx: PbxClient | None = None
        self._clients_lock = threading.Lock()
        self._graph: tuple[Credentials, GraphClient] | None = None

    def graph(self) -> GraphClient:
        """A client for the stored credentials; a new secret gets a new client at once."""
        credentials = self.connection.credentials(self.settings)
        if credentials is None:
            raise ConfigError(["not connected: no Entra ID credentials are set"])
        with self._clients_lock:
            if self._graph is None or self._graph[0] != credentials:
                self._graph = (credentials, client_for(self.settings, credentials))
            return self._graph[1]

    def delegated_graph(self) -> GraphClient | None:
        """A client acting as the admin who authorized presence subscriptions, or None.

        Built afresh each time: the token cache lives in Redis, where another process may
        have refreshed it since.
        """
        credentials = self.connection.credentials(self.settings)
        if credentials is None:
            return None
        return delegated_client(self.settings, credentials, self.presence_authorization)

    def pbx(self) -> PbxClient:
        """One PBX client, and so one PBX token, for the whole process."""
        with self._clients_lock:
            if self._pbx is None:
                self._pbx = pbx_client(self.settings)
            return self._pbx

    def notification_urls(self) -> tuple[str, str] | None:
        base = self.settings.public_base_url
        if not base:
            return None
        return f"{base.rstrip('/')}/graph/notifications", f"{base.rstrip('/')}/graph/lifecycle"

    @contextmanager
    def sync_lock(self, wait: float = 30.0) -> Iterator[bool]:
        """Hold the one lock every sync takes, so runs never overlap; yields False if busy.

        The lock expires after LOCK_TTL unless renewed, and a heartbeat renews it while the
        run goes on: a worker killed mid-run frees it within LOCK_TTL.
        """
        lock = self.redis.lock(LOCK_NAME, timeout=LOCK_TTL, blocking=True,
                               blocking_timeout=wait, thread_local=False)
        if not lock.acquire():
            yield False
            return
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(LOCK_TTL / 3):
                try:
                    lock.extend(LOCK_TTL, replace_ttl=True)
                except (LockError, redis.RedisError):
                    return

        beat = threading.Thread(target=heartbeat, name="sync-lock-heartbeat", daemon=True)
        beat.start()
        try:
            yield True
        finally:
            stop.set()
            beat.join(timeout=5)
            with contextlib.suppress(LockError):  # expired meanwhile: nothing to release
                lock.release()


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime(Settings.from_env(os.environ))
        return _runtime
