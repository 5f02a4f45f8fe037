"""The actors: thin wiring from messages to `core`. Run them with `dramatiq workers.actors`.

Every actor takes ids or small records, is safe to run twice, and follows
fetch → plan → check → apply → record through `core`. Failures become `dramatiq.Retry`
here, with Graph's Retry-After when it gave one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import dramatiq
from redis.exceptions import LockError

from core import logs
from core.config import DEFAULT_REDIS_URL
from core.contacts.sync import mailboxes_in_range, sync_contacts
from core.engine.runs import new_run
from core.errors import GraphError, SyncError
from core.graph.client import GraphClient
from core.groups.apply import apply_groups
from core.groups.sync import sync_groups
from core.integration import (
    flags,
    groups_blocked,
    set_flags,
    users_blocked,
    wind_down,
    wind_down_groups,
)
from core.presence.subscription import certificate, covered_users, current, keep
from core.presence.subscription import revoke as revoke_presence
from core.presence.sync import sync_presence
from core.subscriptions import delete_all, kind_of, maintain, renew
from core.users.apply import apply
from core.users.sync import sync_users
from workers import broker as names
from workers.runtime import Runtime, runtime

logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
log = logging.getLogger("workers")
broker = names.make_broker(os.environ.get("REDIS_URL", DEFAULT_REDIS_URL), worker=True)
dramatiq.set_broker(broker)
LONG = 3_600_000
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
BUSY_RETRY_MS = 5_000
SYNC_RETRIES = 60  # each try waits up to 30 s for the lock: about half an hour behind a long run


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _user_sync(rt: Runtime, run: dict[str, Any], *, incremental: bool,
               allow_deletions: bool = False) -> dict[str, Any]:
    return _logged_run(rt, run, "User", lambda graph: sync_users(
        graph=graph, pbx=rt.pbx(), state=rt.state, run=run, incremental=incremental,
        allow_deletions=allow_deletions))


def _group_sync(rt: Runtime, run: dict[str, Any], *,
                allow_deletions: bool = False) -> dict[str, Any]:
    return _logged_run(rt, run, "Group", lambda graph: sync_groups(
        graph=graph, pbx=rt.pbx(), state=rt.state, run=run, allow_deletions=allow_deletions))


def _contact_sync(rt: Runtime, run: dict[str, Any]) -> dict[str, Any]:
    return _logged_run(rt, run, "Contact", lambda graph: sync_contacts(
        graph=graph, pbx=rt.pbx(), state=rt.state, run=run))


def _contacts_on(rt: Runtime) -> bool:
    rules = rt.state.settings()["contacts"]
    enabled = rules["personal"]["enabled"] or rules["shared"]["enabled"]
    return bool(enabled) and flags(rt.state)["state"] == "enabled"


def _logged_run(rt: Runtime, run: dict[str, Any], title: str,
                work: Callable[[GraphClient], dict[str, Any]]) -> dict[str, Any]:
    """Run `work` with a Graph client, its log lines carrying the run id; not connected → failed.

    The caller holds the sync lock, so no other run can be `running`: any that says so was
    interrupted by a worker that stopped.
    """
    for stale in rt.state.mark_interrupted(_now().isoformat()):
        log.warning(f"run {stale} was interrupted by a stopped worker")
    token = logs.run_id.set(run["id"])
    try:
        try:
            graph = rt.graph()
        except SyncError as exc:
            run |= {"state": "failed", "error": str(exc), "summary": f"{title} sync failed: {exc}",
                    "finished_at": _now().isoformat()}
            rt.state.save_run(run)
            return run
        record = work(graph)
        log.info(record["summary"], extra={"status": record["state"]})
        return record
    finally:
        logs.run_id.reset(token)


def _groups_on(rt: Runtime) -> bool:
    return bool(rt.state.settings()["groups"]["enabled"]) and not groups_blocked(flags(rt.state))


def _users_on(rt: Runtime) -> bool:
    return bool(rt.state.settings()["users"]["enabled"]) and not users_blocked(flags(rt.state))


def _retry_for(record: dict[str, Any]) -> dramatiq.Retry:
    delay = record.get("retry_after") or 30
    return dramatiq.Retry(f"{record.get('scope')} sync failed: {record.get('error')}",
                          delay=int(delay * 1000))


@dramatiq.actor(actor_name=names.NOTE_CHANGES, queue_name=names.QUEUE)
def note_changes(items: list[dict[str, Any]]) -> None:
    """Count accepted notifications per kind and ask for a sync when the debounce says so."""
    rt = runtime()
    by_kind: dict[str, list[str]] = defaultdict(list)
    changed_presence = set()
    for item in items:
        if item["kind"] == "presence":  # P3: applied as it arrives, no debounce
            changed_presence.update(GUID.findall(item["resource"])[-1:])
        else:
            by_kind[item["kind"]].append(item["id"])
    if changed_presence:
        presence_changed.send(sorted(changed_presence))
    for kind, ids in by_kind.items():
        decision = rt.debouncer.note(kind, ids)
        log.info("changes noted", extra={"kind": kind, "count": decision.pending})
        if decision.delay == 0:
            sync_changes.send(kind)
        elif decision.delay:
            sync_changes.send_with_options(args=(kind,), delay=decision.delay * 1000)


@dramatiq.actor(actor_name=names.SYNC_CHANGES, queue_name=names.QUEUE, time_limit=LONG,
                max_retries=SYNC_RETRIES)
def sync_changes(kind: str) -> None:
    """An incremental sync for the pending changes of `kind`; changes that arrive meanwhile wait."""
    rt = runtime()
    with rt.sync_lock() as held:
        if not held:
            raise dramatiq.Retry("another sync is running", delay=BUSY_RETRY_MS)
        run = new_run("users", trigger=f"changes:{kind}")
        if not rt.debouncer.take(kind, run["id"]):
            return  # an earlier run took them
        records = []
        try:
            if kind == "contacts":
                if _contacts_on(rt):
                    records.append(_contact_sync(rt, new_run("contacts",
                                                             trigger="changes:contacts")))
            else:
                if _users_on(rt):
                    records.append(_user_sync(rt, run, incremental=True))
                if _groups_on(rt):  # a user change can change a group's members too
                    group_run = new_run("groups", trigger=f"changes:{kind}")
                    records.append(_group_sync(rt, group_run))
        except BaseException:
            rt.debouncer.give_back(kind, run["id"])
            raise
        failed = next((r for r in records if r["state"] == "failed"), None)
        if failed is not None:
            rt.debouncer.give_back(kind, run["id"])
            raise _retry_for(failed)
        rt.debouncer.done(kind, run["id"])


@dramatiq.actor(actor_name=names.RUN_SYNC, queue_name=names.QUEUE, time_limit=LONG,
                max_retries=SYNC_RETRIES)
def run_sync(run_id: str, allow_deletions: bool = False) -> None:
    """A full sync for a run record made by the API (M3, U10) or the clock (M1)."""
    rt = runtime()
    run = rt.state.run(run_id)
    if run is None or run["state"] != "queued":
        return  # already done: a redelivered message
    with rt.sync_lock() as held:
        if not held:
            raise dramatiq.Retry("another sync is running", delay=BUSY_RETRY_MS)
        on = {"users": _users_on(rt), "groups": _groups_on(rt), "contacts": _contacts_on(rt)}
        parts = [p for p in ("users", "groups", "contacts")
                 if run["scope"] in (p, "all") and on[p]]
        if not parts:
            run |= {"state": "failed", "error": "every part asked for is off or paused",
                    "summary": "Nothing ran: every part asked for is off or paused.",
                    "finished_at": _now().isoformat()}
            rt.state.save_run(run)
            return
        for index, part in enumerate(parts):  # users first: groups need their extensions
            record = run | {"scope": part} if index == 0 else new_run(
                part, trigger=run.get("trigger", "manual"), dry_run=run["dry_run"])
            if part == "users":
                _user_sync(rt, record, incremental=False, allow_deletions=allow_deletions)
            elif part == "groups":
                _group_sync(rt, record, allow_deletions=allow_deletions)
            else:
                _contact_sync(rt, record)


@dramatiq.actor(actor_name=names.RECONCILE, queue_name=names.QUEUE, time_limit=LONG)
def reconcile(trigger: str = "schedule") -> None:
    """The full reconciliation of the schedule (M1) or after missed notifications."""
    rt = runtime()
    if flags(rt.state)["state"] != "enabled":
        return
    maintain_subscriptions.send()
    if _users_on(rt) or _groups_on(rt) or _contacts_on(rt):
        run = new_run("all", trigger=trigger)
        rt.state.save_run(run)
        run_sync.send(run["id"])


@dramatiq.actor(actor_name=names.MAINTAIN_SUBSCRIPTIONS, queue_name=names.QUEUE)
def maintain_subscriptions() -> None:
    """Create, renew or re-create the users and groups subscriptions."""
    rt = runtime()
    urls = rt.notification_urls()
    if urls is None:
        log.warning("PUBLIC_BASE_URL is not set: no change notifications can reach this app")
        return
    if rt.connection.credentials(rt.settings) is None or flags(rt.state)["state"] != "enabled":
        log.info("not connected, or disabled: no subscriptions to keep")
        return
    lock = rt.redis.lock("eps:lock:subscriptions", timeout=600, blocking=True,
                         blocking_timeout=120)
    if not lock.acquire():
        raise dramatiq.Retry("another upkeep of the subscriptions is running", delay=10_000)
    try:  # one upkeep at a time, or two could create the same subscription
        graph = rt.graph()
        mailboxes = ([mailbox for _, _, mailbox in mailboxes_in_range(
            graph, rt.state, rt.state.settings()["contacts"])] if _contacts_on(rt) else [])
        subs = maintain(graph, rt.subscriptions, notification_url=urls[0],
                        lifecycle_url=urls[1], now=_now(), contact_mailboxes=mailboxes)
    finally:
        with contextlib.suppress(LockError):
            lock.release()
    if not _presence_on(rt) and current(rt.subscriptions) is not None:
        poll_presence.send()  # drops the presence subscription under the presence lock
    log.info("subscriptions in place", extra={"count": len(subs)})


@dramatiq.actor(actor_name=names.HANDLE_LIFECYCLE, queue_name=names.QUEUE)
def handle_lifecycle(items: list[dict[str, Any]]) -> None:
    """reauthorizationRequired → renew; subscriptionRemoved → re-create + full sync; missed → full sync."""
    rt = runtime()
    for item in items:
        event, sub_id = item["lifecycleEvent"], item["subscriptionId"]
        log.info("lifecycle event", extra={"reason": event, "subscription_id": sub_id})
        record = rt.subscriptions.get(sub_id)
        if record is not None and kind_of(record) == "presence":
            if event == "subscriptionRemoved":
                rt.subscriptions.drop(sub_id)
            # a renewal reauthorizes it; a new or renewed one reads everyone's presence
            poll_presence.send(renew=event == "reauthorizationRequired",
                               everyone=event == "missed")
            continue
        if event == "reauthorizationRequired":
            try:
                renew(rt.graph(), rt.subscriptions, sub_id, _now(), challenged=True)
            except GraphError as exc:
                if exc.status != 404:
                    raise
                rt.subscriptions.drop(sub_id)
                maintain_subscriptions.send()
        elif event == "subscriptionRemoved":
            rt.subscriptions.drop(sub_id)
            maintain_subscriptions.send()
            reconcile.send("subscription removed")
        elif event == "missed":
            reconcile.send("missed notifications")


@dramatiq.actor(actor_name=names.WIND_DOWN, queue_name=names.QUEUE, time_limit=LONG)
def wind_down_integration(run_id: str, action: str, delete_extensions: bool,
                          delete_groups: bool = False) -> None:
    """Carry out disable, disconnect or pause: the flag is already set by the API."""
    rt = runtime()
    run = rt.state.run(run_id)
    if run is None or run["state"] != "queued":
        return
    with rt.sync_lock() as held:
        if not held:
            raise dramatiq.Retry("another sync is running", delay=BUSY_RETRY_MS)
        run |= {"state": "running", "started_at": _now().isoformat()}
        rt.state.save_run(run)
        errors = []
        if action == "disconnect":
            try:
                delete_all(rt.graph(), rt.subscriptions)
            except SyncError as exc:
                errors.append(f"subscriptions could not be deleted at Graph: {exc}")
            revoke_presence(rt.delegated_graph(), rt.subscriptions, rt.presence_authorization)
        ops = wind_down(rt.state.user_links(), delete=delete_extensions or False,
                        reason=f"integration {action}") if (
            delete_extensions or action == "disconnect") else ()
        group_ops = wind_down_groups(rt.state.group_links(), delete=delete_groups,
                                     reason=f"integration {action}") if (
            delete_groups or action == "disconnect") else ()
        group_outcome = apply_groups(group_ops, rt.pbx(), rt.state)
        outcome = apply(ops, rt.pbx(), rt.state, now=_now().isoformat())
        outcome.counts.update(group_outcome.counts)
        outcome.failures += group_outcome.failures
        if action == "disconnect":  # what is not deleted is released: contacts too
            for key in rt.state.contact_links():
                rt.state.drop_contact_link(key)
            for key in rt.state.book_links():
                rt.state.drop_book_link(key)
            rt.connection.forget()
            set_flags(rt.state, state="disconnected")
        run["counts"] |= {k: outcome.counts.get(k, 0) for k in run["counts"]}
        run |= {"failures": outcome.failures, "finished_at": _now().isoformat(),
                "state": "failed" if errors or outcome.failures else "succeeded",
                "error": "; ".join(errors) or None, "synced": len(rt.state.user_links())}
        run["summary"] = (f"Integration {action}: {outcome.counts.get('deleted', 0)} extensions "
                          f"and extension groups deleted, {outcome.counts.get('released', 0)} "
                          "released"
                          + (f"; {run['error']}" if run["error"] else "") + ".")
        rt.state.save_run(run)


def _presence_on(rt: Runtime) -> bool:
    return bool(rt.state.settings()["presence"]["enabled"]) and flags(rt.state)["state"] == "enabled"


def _keep_presence_subscription(rt: Runtime, *, renew: bool) -> tuple[list[str], bool]:
    """Keep the presence subscription in step (P3); the users it covers, and whether it was
    made or renewed just now. Nobody authorized, or it failed: nobody covered, all polled."""
    urls = rt.notification_urls()
    wanted = covered_users(rt.state) if _presence_on(rt) else []
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


@dramatiq.actor(actor_name=names.POLL_PRESENCE, queue_name=names.QUEUE, max_retries=0)
def poll_presence(renew: bool = False, everyone: bool = False) -> None:
    """P1-P3: keep the presence subscription, then poll the users it does not cover (all of
    them when it is new or renewed, or after Graph said it missed notifications).

    Presence takes its own short lock, not the sync lock: it only sets presence, and must not
    wait behind a long sync; it also keeps one refresh of the delegated token at a time. A
    failed poll is not retried: the next one comes soon.
    """
    rt = runtime()
    asked = renew or everyone  # by a lifecycle event: wait for the lock rather than skip
    lock = rt.redis.lock("eps:lock:presence", timeout=120, blocking=asked, blocking_timeout=60)
    if not lock.acquire():
        return
    try:
        covered, fresh = _keep_presence_subscription(rt, renew=renew)
        if not _presence_on(rt):
            return
        polled = None if fresh or everyone else set(rt.state.user_links()) - set(covered)
        result = sync_presence(graph=rt.graph(), pbx=rt.pbx(), state=rt.state, user_ids=polled)
    except SyncError as exc:
        log.warning(f"presence poll failed: {exc}")
        return
    finally:
        with contextlib.suppress(LockError):
            lock.release()
    if result["updated"] or result["failed"]:
        log.info(f"presence: {result['updated']} extensions updated, {result['failed']} failed "
                 f"of {result['checked']} users")


@dramatiq.actor(actor_name=names.PRESENCE_CHANGED, queue_name=names.QUEUE, max_retries=3,
                min_backoff=1_000)
def presence_changed(user_ids: list[str]) -> None:
    """P3: presence notifications, applied as they arrive (the same lock as the poll, so an
    older reading never lands after a newer one)."""
    rt = runtime()
    if not _presence_on(rt):
        return
    lock = rt.redis.lock("eps:lock:presence", timeout=120, blocking=True, blocking_timeout=30)
    if not lock.acquire():
        raise dramatiq.Retry("a presence poll is running", delay=1_000)
    try:
        result = sync_presence(graph=rt.graph(), pbx=rt.pbx(), state=rt.state,
                               user_ids=set(user_ids))
    finally:
        with contextlib.suppress(LockError):
            lock.release()
    log.info(f"presence changed: {result['updated']} extensions updated",
             extra={"count": len(user_ids)})
