"""Sessions kept in Redis: the browser's cookie carries a random id and nothing else.

A record is `{"kind": "sso" | "token", ...}` under `Keys.session(id)`; it lives 8 hours from
its last use (sliding), and ending it deletes it, so a copied cookie is worth nothing after
sign-out. SSO records carry the epoch they were opened in: bumping the epoch
(`Keys.sessions_epoch`) ends every SSO session at once, used or not — SSO turned off, the
integration disabled. What a record says is checked again by webhook/auth.py on each use.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import redis
from flask import Flask, Request, Response
from flask.sessions import NullSession, SessionInterface

from core.store.keys import Keys

SESSION_TTL = 8 * 3600


class Sessions:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys

    def open(self, record: dict[str, Any]) -> str:
        """Keep `record` under a new random id, and answer the id."""
        session_id = secrets.token_urlsafe(32)
        if record["kind"] == "sso":
            record = record | {"epoch": self._epoch()}
        self.redis.set(self.keys.session(session_id), json.dumps(record), ex=SESSION_TTL)
        return session_id

    def load(self, session_id: str) -> dict[str, Any] | None:
        """The live record of `session_id`, its 8 hours counted again from now; None when it
        is unknown, expired or ended."""
        pipe = self.redis.pipeline()
        pipe.getex(self.keys.session(session_id), ex=SESSION_TTL)
        pipe.get(self.keys.sessions_epoch())
        raw, epoch = pipe.execute()
        if raw is None:
            return None
        record: dict[str, Any] = json.loads(raw)
        if record.get("kind") == "sso" and record.get("epoch") != int(epoch or 0):
            self.end(session_id)
            return None
        return record

    def save(self, session_id: str, record: dict[str, Any]) -> None:
        """Write back a record that was checked again (never brings an ended one back)."""
        self.redis.set(self.keys.session(session_id), json.dumps(record), ex=SESSION_TTL,
                       xx=True)

    def end(self, session_id: str) -> None:
        self.redis.delete(self.keys.session(session_id))

    def end_sso(self) -> None:
        """End every SSO session now (admin-token sessions stay)."""
        self.redis.incr(self.keys.sessions_epoch())

    def _epoch(self) -> int:
        return int(self.redis.get(self.keys.sessions_epoch()) or 0)


class NoCookieSession(SessionInterface):
    """Flask's own cookie session, switched off: this app keeps its sessions in Redis (above),
    and Flask would otherwise build a signing serializer for every request, Graph's
    notifications included. A view that wrote to `flask.session` would fail loudly."""

    def open_session(self, app: Flask, request: Request) -> NullSession:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None

