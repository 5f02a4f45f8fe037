"""Teams presence in a worker (P1-P3): the poll and the notifications, under the presence lock.

Presence takes its own short lock, not the sync lock: it only sets presence, and must not
wait behind a long sync; the lock also keeps one refresh of the delegated token at a time, and
an older reading from never landing after a newer one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockError

from core.errors import SyncError
from core.presence.subscription import certificate, covered_users, current, keep
from core.presence.sync import sync_presence
from workers.jobs import situation
from workers.runtime import Runtime

log = logging.getLogger("workers")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _on(rt: Runtime) -> bool:
    return situation(rt).why_not("presence") is None


@contextmanager
def _locked(rt: Runtime, *, wait: bool, seconds: float) -> Iterator[bool]:
    lock = rt.redis.lock(rt.state.keys.presence_lock(), timeout=120, blocking=wait,
                         blocking_timeout=seconds)
    if not lock.acquire():
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(LockError):
            lock.release()


def _keep_presence_subscription(rt: Runtime, *, renew: bool) -> tuple[list[str], bool]:
    """Keep the presence subscription in step (P3); the users it covers, and whether it was
    made or renewed just now. Nobody authorized, or it failed: nobody covered, all polled."""
    urls = rt.notification_urls()
    wanted = covered_users(rt.state) if _on(rt) else []
    authorization = rt.presence_authorization.get()
    if urls is None or authorization is None or not (wanted or current(rt.subscriptions)):
        return [], False
    graph = rt.delegated_graph()
    if graph is None:
        return [], False
    try:
        covered, fresh = keep(graph, rt.subscriptions, wanted, notification_url=urls[0],
                              lifecycle_url=urls[1], now=_now(), renew=renew,
                              owner=authorization["user_id"],
                              certificate=certificate(rt.state, rt.box, _now()))
    except SyncError as exc:
        log.warning(f"presence subscription not kept, polling everyone: {exc}")
        return [], False
    rt.presence_authorization.update(problem=None)
    return covered, fresh


def poll(rt: Runtime, *, renew: bool = False, everyone: bool = False) -> None:
    """Keep the presence subscription, then poll the users it does not cover (all of them when
    it is new or renewed, or after Graph said it missed notifications)."""
    asked = renew or everyone  # by a lifecycle event: wait for the lock rather than skip
    with _locked(rt, wait=asked, seconds=60) as held:
        if not held:
            return
        try:
            covered, fresh = _keep_presence_subscription(rt, renew=renew)
            if not _on(rt):
                return
            polled = None if fresh or everyone else set(rt.state.user_links()) - set(covered)
            result = sync_presence(graph=rt.graph(), pbx=rt.pbx(), state=rt.state,
                                   user_ids=polled)
        except SyncError as exc:
            log.warning(f"presence poll failed: {exc}")
            return
    if result["updated"] or result["failed"]:
        log.info(f"presence: {result['updated']} extensions updated, {result['failed']} failed "
                 f"of {result['checked']} users")


def changed(rt: Runtime, user_ids: list[str]) -> bool:
    """Apply presence notifications for `user_ids`; False when the lock stayed busy."""
    if not _on(rt):
        return True
    with _locked(rt, wait=True, seconds=30) as held:
        if not held:
            return False
        result = sync_presence(graph=rt.graph(), pbx=rt.pbx(), state=rt.state,
                               user_ids=set(user_ids))
    log.info(f"presence changed: {result['updated']} extensions updated",
             extra={"count": len(user_ids)})
    return True
