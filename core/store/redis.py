"""The state store in Redis: links, pending creates, released objects, delta links, settings,
the integration's switches, and (core/store/runs.py) run history. Key names are in
`core/store/keys.py`.

Lost state is told apart from state never written: `settings()` and `flags()` answer None
when nothing is stored, and callers treat that as "not configured", never as the defaults.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import redis

from core.contacts.records import BookLink, ContactLink
from core.groups.records import GroupLink
from core.store.keys import Keys
from core.store.objects import ProposedSettings, RunObjects
from core.store.runs import RUN_TTL_SECONDS, RunHistory
from core.sync_settings import defaults, validate_document
from core.users.records import Link

PARTS = ("users", "groups", "contacts", "presence")
DEFAULT_FLAGS: dict[str, Any] = {"state": "enabled", "users_paused": False, "groups_paused": False}


class StateStore(RunHistory):
    def __init__(self, client: redis.Redis, namespace: str = "eps") -> None:
        self.redis = client
        self.ns = namespace
        self.keys = Keys(namespace)
        self.objects = RunObjects(client, self.keys, RUN_TTL_SECONDS)
        self.proposed = ProposedSettings(client, self.keys)

    # links -------------------------------------------------------------------------------
    def _links(self, kind: str, record: type) -> dict[str, Any]:
        raw = self.redis.hgetall(self.keys.links(kind))
        # one parse for every link, not one a link: a user sync reads tens of thousands
        values = [v if isinstance(v, bytes) else v.encode() for v in raw.values()]
        parsed = json.loads(b"[" + b",".join(values) + b"]")
        return {_text(k): record(**v) for k, v in zip(raw, parsed, strict=True)}

    def user_links(self) -> dict[str, Link]:
        return self._links("users", Link)

    def linked_user_ids(self) -> set[str]:
        """The ids of the users `user_links()` has, without reading the links themselves."""
        return {_text(k) for k in self.redis.hkeys(self.keys.links("users"))}

    def put_link(self, link: Link) -> None:
        """Link a user to its extension; a release or a pending create of the user is over."""
        self.put_links([link])

    def put_links(self, links: Iterable[Link], *, chunk: int = 1000) -> None:
        """`put_link` for many, `chunk` to a round trip."""
        batch = list(links)
        for start in range(0, len(batch), chunk):
            with self.redis.pipeline(transaction=False) as pipe:
                for link in batch[start : start + chunk]:
                    pipe.hset(self.keys.links("users"), link.user_id, json.dumps(link.__dict__))
                    pipe.hdel(self.keys.released_users(), link.user_id)
                    pipe.hdel(self.keys.pending_users(), link.user_id)
                pipe.execute()

    def drop_link(self, user_id: str) -> None:
        self.redis.hdel(self.keys.links("users"), user_id)

    def pending_creates(self) -> dict[str, str]:
        raw = self.redis.hgetall(self.keys.pending_users())
        return {_text(k): _text(v) for k, v in raw.items()}

    def mark_pending(self, user_id: str, number: str) -> None:
        self.redis.hset(*self.pending_mark(user_id, number))

    def pending_mark(self, user_id: str, number: str) -> tuple[str, str, str]:
        """The hash field that marks a create of `user_id` as started: (key, field, value),
        for a write made with the lock check (FencedLock.check_and_hset)."""
        return self.keys.pending_users(), user_id, number

    def clear_pending(self, user_id: str) -> None:
        self.redis.hdel(self.keys.pending_users(), user_id)

    def mark_released(self, link: Link, reason: str, at: str) -> None:
        self.redis.hset(self.keys.released_users(), link.user_id,
                        json.dumps(link.__dict__ | {"reason": reason, "released_at": at}))

    def released_users(self) -> dict[str, dict[str, Any]]:
        raw = self.redis.hgetall(self.keys.released_users())
        return {_text(k): json.loads(v) for k, v in raw.items()}

    def group_links(self) -> dict[str, GroupLink]:
        return self._links("groups", GroupLink)

    def put_group_link(self, link: GroupLink) -> None:
        self.redis.hset(self.keys.links("groups"), link.group_id, json.dumps(link.__dict__))

    def drop_group_link(self, group_id: str) -> None:
        self.redis.hdel(self.keys.links("groups"), group_id)

    def book_links(self) -> dict[str, BookLink]:
        return self._links("phonebooks", BookLink)

    def put_book_link(self, link: BookLink) -> None:
        self.redis.hset(self.keys.links("phonebooks"), link.key, json.dumps(link.__dict__))

    def drop_book_link(self, key: str) -> None:
        self.redis.hdel(self.keys.links("phonebooks"), key)

    def contact_links(self) -> dict[str, ContactLink]:
        return self._links("contacts", ContactLink)

    def put_contact_link(self, link: ContactLink) -> None:
        self.redis.hset(self.keys.links("contacts"), link.key, json.dumps(link.__dict__))

    def drop_contact_link(self, key: str) -> None:
        self.redis.hdel(self.keys.links("contacts"), key)

    def linked_counts(self) -> dict[str, int]:
        """How many objects of each kind are linked (synced and managed)."""
        return {kind: int(self.redis.hlen(self.keys.links(kind)))
                for kind in ("users", "groups", "phonebooks", "contacts")}

    def links_tenant(self) -> str | None:
        """The tenant the links belong to."""
        value = self.redis.get(self.keys.links_tenant())
        return _text(value) if value is not None else None

    def set_links_tenant(self, tenant_id: str) -> None:
        self.redis.set(self.keys.links_tenant(), tenant_id)

    def forget_tenant(self) -> None:
        """Drop every link, pending create, delta link, presence preference and first-save
        mark: nothing on the PBX is touched, and what was synced is left to the PBX."""
        doomed = [self.keys.links(kind) for kind in ("users", "groups", "phonebooks", "contacts")]
        doomed += [self.keys.links_tenant(), self.keys.pending_users(),
                   self.keys.released_users(), self.keys.subscriptions(),
                   self.keys.presence("seen"), self.keys.presence("authorization"),
                   self.keys.presence("preferences")]
        doomed += [self.keys.saved(part) for part in PARTS]
        doomed += list(self.redis.scan_iter(match=self.keys.delta_pattern(), count=500))
        self.redis.delete(*doomed)

    # presence ----------------------------------------------------------------------------
    def presence_preferences(self) -> dict[str, dict[str, Any]]:
        """Each user's presence preference (P2), by Entra object id, never by extension
        number: a number handed to someone else does not carry its old owner's choice.

        Entries from before were keyed by number (all digits; an object id never is): each
        moves, once, to the user that number is linked to now (or is being created with),
        unless that user has one already; one whose number is nobody's now is dropped, so
        whoever gets that number later does not inherit it.
        """
        key = self.keys.presence("preferences")
        raw = self.redis.hgetall(key)
        by_number = {_text(k): v for k, v in raw.items() if _is_number(_text(k))}
        if by_number:
            self._move_number_keyed(by_number)
            raw = self.redis.hgetall(key)
        return {_text(k): json.loads(v) for k, v in raw.items()}

    def _move_number_keyed(self, by_number: dict[str, Any]) -> None:
        key = self.keys.presence("preferences")
        owners = {number: uid for uid, number in self.pending_creates().items()}
        owners |= {link.number: uid for uid, link in self.user_links().items()}
        pipe = self.redis.pipeline()
        for number, value in by_number.items():
            if number in owners:
                pipe.hsetnx(key, owners[number], value)
            pipe.hdel(key, number)
        pipe.execute()

    def presence_preference(self, user_id: str) -> dict[str, Any] | None:
        """The preference a user chose, or None (the defaults apply)."""
        return self.presence_preferences().get(user_id)

    def set_presence_preference(self, user_id: str, preference: dict[str, Any]) -> None:
        """Keep a user's preference under their Entra object id."""
        self.redis.hset(self.keys.presence("preferences"), user_id, json.dumps(preference))

    def prune_presence_preferences(self) -> list[str]:
        """Drop the preferences of users no longer synced (deleted, released, out of range):
        a preference goes with its link. Not while the sync lock is held (a run drops the link
        of an extension it re-creates, then links it again), and not if the links, the
        pending creates, the preferences or the lock change meanwhile; the user ids dropped."""
        prefs, links, pending = (self.keys.presence("preferences"), self.keys.links("users"),
                                 self.keys.pending_users())
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(prefs, links, pending, self.keys.sync_lock())
                if pipe.exists(self.keys.sync_lock()):
                    return []
                kept = {_text(k) for k in (*pipe.hkeys(links), *pipe.hkeys(pending))}
                doomed = sorted(k for k in map(_text, pipe.hkeys(prefs))
                                if k not in kept and not _is_number(k))
                if doomed:
                    pipe.multi()
                    pipe.hdel(prefs, *doomed)
                    pipe.execute()
            except redis.WatchError:
                return []
        return doomed

    def presence_seen(self) -> dict[str, str]:
        raw = self.redis.hgetall(self.keys.presence("seen"))
        return {_text(k): _text(v) for k, v in raw.items()}

    def mark_presence_seen(self, user_id: str, availability: str) -> None:
        self.redis.hset(self.keys.presence("seen"), user_id, availability)

    # sign-in flows ---------------------------------------------------------------------
    def put_flow(self, kind: str, flow: dict[str, Any], ttl: int) -> None:
        """Keep a sign-in flow in progress (sso | presence) under its `state` for `ttl` s."""
        self.redis.set(self.keys.flow(kind, flow["state"]), json.dumps(flow), ex=ttl)

    def take_flow(self, kind: str, state: str) -> dict[str, Any] | None:
        """The flow waiting under `state`, taken once: a replayed answer finds none."""
        raw = self.redis.getdel(self.keys.flow(kind, state))
        return json.loads(raw) if raw is not None else None

    # delta links -------------------------------------------------------------------------
    def delta_link(self, name: str) -> str | None:
        value = self.redis.get(self.keys.delta(name))
        return _text(value) if value is not None else None

    def set_delta_link(self, name: str, link: str) -> None:
        self.redis.set(self.keys.delta(name), link)

    def drop_delta_link(self, name: str) -> None:
        self.redis.delete(self.keys.delta(name))

    # settings and switches ---------------------------------------------------------------
    def stored_settings(self) -> dict[str, Any] | None:
        """The stored settings document, or None when none is stored (never saved, or lost)."""
        raw = self.redis.get(self.keys.settings())
        return json.loads(raw) if raw else None

    def settings(self) -> dict[str, Any]:
        """The stored settings document, or the defaults (every part off) to show and edit."""
        return self.stored_settings() or defaults()

    def save_settings(self, document: dict[str, Any]) -> None:
        self.redis.set(self.keys.settings(), json.dumps(validate_document(document)))

    def mark_saved(self, part: str) -> bool:
        """Note that a part's settings were saved; True the first time (U10, G5)."""
        return bool(self.redis.set(self.keys.saved(part), 1, nx=True))

    def saved_parts(self) -> frozenset[str]:
        values = self.redis.mget([self.keys.saved(part) for part in PARTS])
        return frozenset(part for part, value in zip(PARTS, values, strict=True) if value)

    def flags(self) -> dict[str, Any] | None:
        """The integration's switches (C3, C4, M4, M5), or None when none are stored."""
        raw = self.redis.get(self.keys.integration())
        return DEFAULT_FLAGS | json.loads(raw) if raw else None

    def set_flags(self, *, confirm: bool = False, **changes: Any) -> dict[str, Any]:
        """Change the switches. Where none are stored (never, or lost) the change is kept but
        stays unconfirmed — nothing runs — until `confirm` (a save of the settings, or a first
        connection) says an administrator chose them."""
        stored = self.flags()
        current = (stored or DEFAULT_FLAGS | {"unconfirmed": True}) | changes
        if confirm:
            current.pop("unconfirmed", None)
        self.redis.set(self.keys.integration(), json.dumps(current))
        return current


def _is_number(key: str) -> bool:
    """An extension number (the old key of a presence preference), not an Entra object id."""
    return key.isascii() and key.isdigit()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
