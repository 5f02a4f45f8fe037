"""The audit log: who changed what, when and from where, newest first.

One Redis list (`Keys.audit`) of JSON entries `{"at", "actor", "action", "details", "source"}`;
each new entry goes first and the list is trimmed to the newest `KEPT` in the same
transaction. What goes in is chosen by the web app (webhook/audit.py): never a secret.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from core.store.keys import Keys

KEPT = 2000


class AuditLog:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys

    def record(self, entry: dict[str, Any]) -> None:
        """Keep `entry` as the newest; the oldest beyond `KEPT` are dropped."""
        pipe = self.redis.pipeline()  # MULTI: the list never holds more than KEPT
        pipe.lpush(self.keys.audit(), json.dumps(entry))
        pipe.ltrim(self.keys.audit(), 0, KEPT - 1)
        pipe.execute()

    def entries(self, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
        """The newest `limit` entries, only those of `action` when given."""
        if limit < 1:
            return []
        raw = self.redis.lrange(self.keys.audit(), 0, -1 if action else limit - 1)
        found = [json.loads(item) for item in raw]
        if action:
            found = [entry for entry in found if entry.get("action") == action]
        return found[:limit]
