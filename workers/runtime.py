"""What actors need in one worker process, built once from the environment."""

from __future__ import annotations

import os
import threading
from typing import Any

import redis

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


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # timeouts well below the sync lock's 30 s lease, so a hung Redis is noticed in time
        self.redis = redis.Redis.from_url(settings.redis_url, socket_timeout=5,
                                          socket_connect_timeout=2)
        self.state = StateStore(self.redis)
        self.box = SecretBox(settings.secret_key, settings.secret_key_fallbacks)
        self.connection = ConnectionStore(self.state, self.box)
        self.subscriptions = SubscriptionStore(self.state, self.box)
        self.presence_authorization = PresenceAuthorization(self.state, self.box)
        self.debouncer = Debouncer(self.redis, window=settings.debounce_window_seconds,
                                   max_changes=settings.debounce_max_changes)
        self._pbx: PbxClient | None = None
        self._clients_lock = threading.Lock()
        self._graph: tuple[Credentials, GraphClient] | None = None
        self._broker: Any = None

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

    def close(self) -> None:
        """Give back the PBX token and the connections (a short-lived process, the CLI)."""
        if self._pbx is not None:
            self._pbx.token_source.close()
        self.redis.close()

    def send(self, actor_name: str, *args: Any) -> None:
        """Enqueue a message for an actor, through one broker of this process's own."""
        from workers.broker import make_broker, send

        with self._clients_lock:
            if self._broker is None:
                self._broker = make_broker(self.settings.redis_url)
        send(self._broker, actor_name, *args)

    def ask_for_changes_run(self, kind: str) -> None:
        """Queue an incremental sync for the pending changes of `kind`."""
        from workers.broker import SYNC_CHANGES

        self.send(SYNC_CHANGES, kind)


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime(Settings.from_env(os.environ))
        return _runtime
