"""The state store in Redis: links, pending creates, released objects, delta links, settings
and run history. The only module of `core/` that talks to Redis.

Keys live under one namespace (default `eps`):
`links:users` (hash user id → link), `links:groups` (hash group id → extension group),
`links:phonebooks` and `links:contacts` (synced phonebooks and company contacts),
`pending:users` (hash user id → number being created),
`released:users` (hash user id → what was released and why), `delta:<name>`, `settings`,
`runs` (list of the newest run ids, capped) and `run:<id>` (a run record, expiring).
"""

from __future__ import annotations

import json
from typing import Any

import redis

from core.contacts.records import BookLink, ContactLink
from core.groups.records import GroupLink
from core.sync_settings import defaults, validate_document
from core.users.records import Link

RUNS_KEPT = 200
RUN_TTL_SECONDS = 90 * 24 * 3600


class StateStore:
    def __init__(self, client: redis.Redis, namespace: str = "eps") -> None:
        self.redis = client
        self.ns = namespace

    def key(self, *parts: str) -> str:
        return ":".join((self.ns, *parts))

    # links -------------------------------------------------------------------------------
    def user_links(self) -> dict[str, Link]:
        raw = self.redis.hgetall(self.key("links", "users"))
        return {_text(uid): Link(**json.loads(value)) for uid, value in raw.items()}

    def put_link(self, link: Link) -> None:
        self.redis.hset(self.key("links", "users"), link.user_id, json.dumps(link.__dict__))
        self.redis.hdel(self.key("released", "users"), link.user_id)

    def drop_link(self, user_id: str) -> None:
        self.redis.hdel(self.key("links", "users"), user_id)

    def pending_creates(self) -> dict[str, str]:
        raw = self.redis.hgetall(self.key("pending", "users"))
        return {_text(k): _text(v) for k, v in raw.items()}

    def mark_pending(self, user_id: str, number: str) -> None:
        self.redis.hset(self.key("pending", "users"), user_id, number)

    def clear_pending(self, user_id: str) -> None:
        self.redis.hdel(self.key("pending", "users"), user_id)

    def mark_released(self, link: Link, reason: str, at: str) -> None:
        self.redis.hset(self.key("released", "users"), link.user_id,
                        json.dumps(link.__dict__ | {"reason": reason, "released_at": at}))

    def released_users(self) -> dict[str, dict[str, Any]]:
        raw = self.redis.hgetall(self.key("released", "users"))
        return {_text(k): json.loads(v) for k, v in raw.items()}

    def group_links(self) -> dict[str, GroupLink]:
        raw = self.redis.hgetall(self.key("links", "groups"))
        return {_text(gid): GroupLink(**json.loads(value)) for gid, value in raw.items()}

    def put_group_link(self, link: GroupLink) -> None:
        self.redis.hset(self.key("links", "groups"), link.group_id, json.dumps(link.__dict__))

    def drop_group_link(self, group_id: str) -> None:
        self.redis.hdel(self.key("links", "groups"), group_id)

    def book_links(self) -> dict[str, BookLink]:
        raw = self.redis.hgetall(self.key("links", "phonebooks"))
        return {_text(k): BookLink(**json.loads(v)) for k, v in raw.items()}

    def put_book_link(self, link: BookLink) -> None:
        self.redis.hset(self.key("links", "phonebooks"), link.key, json.dumps(link.__dict__))

    def drop_book_link(self, key: str) -> None:
        self.redis.hdel(self.key("links", "phonebooks"), key)

    def contact_links(self) -> dict[str, ContactLink]:
        raw = self.redis.hgetall(self.key("links", "contacts"))
        return {_text(k): ContactLink(**json.loads(v)) for k, v in raw.items()}

    def put_contact_link(self, link: ContactLink) -> None:
        self.redis.hset(self.key("links", "contacts"), link.key, json.dumps(link.__dict__))

    def drop_contact_link(self, key: str) -> None:
        self.redis.hdel(self.key("links", "contacts"), key)

    # presence ----------------------------------------------------------------------------
    def presence_preferences(self) -> dict[str, dict[str, Any]]:
        raw = self.redis.hgetall(self.key("presence", "preferences"))
        return {_text(k): json.loads(v) for k, v in raw.items()}

    def set_presence_preference(self, number: str, preference: dict[str, Any]) -> None:
        self.redis.hset(self.key("presence", "preferences"), number, json.dumps(preference))

    def presence_seen(self) -> dict[str, str]:
        raw = self.redis.hgetall(self.key("presence", "seen"))
        return {_text(k): _text(v) for k, v in raw.items()}

    def mark_presence_seen(self, user_id: str, availability: str) -> None:
        self.redis.hset(self.key("presence", "seen"), user_id, availability)

    # delta links -------------------------------------------------------------------------
    def delta_link(self, name: str) -> str | None:
        value = self.redis.get(self.key("delta", name))
        return _text(value) if value is not None else None

    def set_delta_link(self, name: str, link: str) -> None:
        self.redis.set(self.key("delta", name), link)

    def drop_delta_link(self, name: str) -> None:
        self.redis.delete(self.key("delta", name))

    # settings ----------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The stored settings document, or the defaults when none was saved."""
        raw = self.redis.get(self.key("settings"))
        return json.loads(raw) if raw else defaults()

    def save_settings(self, document: dict[str, Any]) -> None:
        self.redis.set(self.key("settings"), json.dumps(validate_document(document)))

    # runs --------------------------------------------------------------------------------
    def save_run(self, record: dict[str, Any]) -> None:
        run_key = self.key("run", record["id"])
        is_new = not self.redis.exists(run_key)
        pipe = self.redis.pipeline()
        pipe.set(run_key, json.dumps(record), ex=RUN_TTL_SECONDS)
        if is_new:
            pipe.lpush(self.key("runs"), record["id"])
            pipe.ltrim(self.key("runs"), 0, RUNS_KEPT - 1)
        pipe.execute()

    def run(self, run_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.key("run", run_id))
        return json.loads(raw) if raw else None

    def mark_interrupted(self, at: str, limit: int = 50) -> list[str]:
        """Runs left `running` by a worker that died: called by a run holding the sync lock."""
        marked = []
        for record in self.runs(limit=limit):
            if record["state"] == "running":
                record |= {"state": "failed", "finished_at": at,
                           "error": "interrupted: the worker running it stopped",
                           "summary": "Interrupted: the worker running it stopped; the next "
                                      "run picked up where it left off."}
                self.save_run(record)
                marked.append(record["id"])
        return marked

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        ids = [_text(i) for i in self.redis.lrange(self.key("runs"), 0, limit - 1)]
        return [r for r in (self.run(i) for i in ids) if r is not None]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
