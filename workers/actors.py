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
from typing import Any

import dramatiq
from redis.exceptions import LockError

from core import logs
from core.config import DEFAULT_REDIS_URL
from core.contacts.mailboxes import mailboxes_in_range
from core.engine.runs import Run
from core.errors import GraphError
from core.presence.subscription import current
from core.subscription_upkeep import maintain
from core.subscriptions import kind_of, renew
from workers import broker as names
from workers import health, jobs, presence
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


def _on(rt: Runtime, part: str) -> bool:
    return jobs.situation(rt).why_not(part) is None


def _retry_for(run: Run) -> dramatiq.Retry:
    delay = run.retry_after or 30
    return dramatiq.Retry(f"{run.scope} sync failed: {run.error}", delay=int(delay * 1000))


@dramatiq.actor(actor_name=names.NOTE_CHANGES, queue_name=names.QUEUE)
def note_changes(items: list[dict[str, Any]]) -> None:
    """Count accepted notifications per kind and ask for a sync when the debounce says so."""
    rt = runtime()
    by_kind: dict[str, list[str]] = defaultdict(list)
    changed_presence = set()
    for item in items:
        if item["kind"] == "presence":  # P3: applied as it arrives, no debounce
            # the webhook takes the user from resourceData.id; older messages carry only resource
            changed_presence.update([item["user_id"]] if item.get("user_id")
                                    else GUID.findall(item["resource"])[-1:])
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
    try:
        run = jobs.sync_changes(runtime(), kind)
    except jobs.Busy:
        raise dramatiq.Retry("another sync is running", delay=BUSY_RETRY_MS) from None
    if run is not None and run.state == "failed":
        raise _retry_for(run)


@dramatiq.actor(actor_name=names.RUN_SYNC, queue_name=names.QUEUE, time_limit=LONG,
                max_retries=SYNC_RETRIES)
def run_sync(run_id: str, allow_deletions: bool = False) -> None:
    """A full sync for a run record made by the API (M3, U10) or the clock (M1); a redelivered
    message whose worker died mid-run resumes it."""
    rt = runtime()
    run = rt.state.load_run(run_id)
    if run is None or (run.finished and not run.interrupted):
        return  # already done: a redelivered message
    run.allow_deletions = run.allow_deletions or allow_deletions
    try:
        jobs.sync(rt, run)
    except jobs.Busy:
        raise dramatiq.Retry("another sync is running", delay=BUSY_RETRY_MS) from None


@dramatiq.actor(actor_name=names.RECONCILE, queue_name=names.QUEUE, time_limit=LONG)
def reconcile(trigger: str = "schedule") -> None:
    """The full reconciliation of the schedule (M1) or after missed notifications."""
    rt = runtime()
    now_situation = jobs.situation(rt)
    if now_situation.why_not("users") and now_situation.why_not("groups") \
            and now_situation.why_not("contacts"):
        if now_situation.lost:
            log.warning("the stored settings are missing: nothing runs until they are saved")
        return
    maintain_subscriptions.send()
    run = Run.new("all", trigger=trigger)
    rt.state.save_run(run)
    run_sync.send(run.id)


@dramatiq.actor(actor_name=names.MAINTAIN_SUBSCRIPTIONS, queue_name=names.QUEUE)
def maintain_subscriptions() -> None:
    """Create, renew or re-create the users, groups and contacts subscriptions, each on its
    own: users and groups first, then the mailboxes in range are read, then their contacts
    subscriptions. A failure is recorded on its subscription and retried at the next upkeep."""
    rt = runtime()
    urls = rt.notification_urls()
    if urls is None:
        log.warning("PUBLIC_BASE_URL is not set: no change notifications can reach this app")
        return
    flags = rt.state.flags()
    if rt.connection.credentials(rt.settings) is None or (flags or {}).get("state") != "enabled":
        log.info("not connected, or disabled: no subscriptions to keep")
        return
    lock = rt.redis.lock(rt.state.keys.subscriptions_lock(), timeout=600, blocking=True,
                         blocking_timeout=120)
    if not lock.acquire():
        raise dramatiq.Retry("another upkeep of the subscriptions is running", delay=10_000)
    try:  # one upkeep at a time, or two could create the same subscription
        graph = rt.graph()
        contacts_on = _on(rt, "contacts")

        def mailboxes() -> list[str]:  # read after users and groups are kept
            if not contacts_on:
                return []
            return [mailbox for _, _, mailbox in mailboxes_in_range(
                graph, rt.state, rt.state.settings()["contacts"])]

        subs = maintain(graph, rt.subscriptions, notification_url=urls[0],
                        lifecycle_url=urls[1], now=_now(), contact_mailboxes=mailboxes)
    finally:
        with contextlib.suppress(LockError):
            lock.release()
    if not _on(rt, "presence") and current(rt.subscriptions) is not None:
        poll_presence.send()  # drops the presence subscription under the presence lock
    for failed in (s for s in subs if s.get("problem")):
        log.warning(f"subscription {failed['resource']}: {failed['problem']}")
    log.info("subscriptions in place", extra={"count": sum(1 for s in subs if s.get("id"))})


@dramatiq.actor(actor_name=names.CHECK_HEALTH, queue_name=names.QUEUE, max_retries=0,
                time_limit=300_000)
def check_health(trigger: str = "schedule") -> None:
    """The live check of each part's Graph permissions and of the PBX (status `health`)."""
    entries = health.check(runtime())
    problems = [p for entry in entries.values() for p in entry["problems"]]
    for problem in problems:
        log.warning(f"health: {problem}", extra={"reason": trigger})
    log.info(f"health checked: {len(problems)} problems", extra={"reason": trigger})


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


@dramatiq.actor(actor_name=names.WIND_DOWN, queue_name=names.QUEUE, time_limit=LONG,
                max_retries=SYNC_RETRIES)  # it may wait behind a long sync, like a sync
def wind_down_integration(run_id: str, action: str, delete_extensions: bool,
                          delete_groups: bool = False) -> None:
    """Carry out disable, disconnect or pause: the flag is already set by the API. A
    redelivered message whose worker died mid-way resumes it."""
    rt = runtime()
    run = rt.state.load_run(run_id)
    if run is None or (run.finished and not run.interrupted):
        return
    run.action = run.action or action
    run.options = run.options or {"delete_extensions": delete_extensions,
                                  "delete_groups": delete_groups}
    try:
        jobs.wind_down(rt, run)
    except jobs.Busy:
        raise dramatiq.Retry("another sync is running", delay=BUSY_RETRY_MS) from None


@dramatiq.actor(actor_name=names.POLL_PRESENCE, queue_name=names.QUEUE, max_retries=0)
def poll_presence(renew: bool = False, everyone: bool = False) -> None:
    """P1-P3: keep the presence subscription, then poll the users it does not cover. A failed
    poll is not retried: the next one comes soon."""
    presence.poll(runtime(), renew=renew, everyone=everyone)


@dramatiq.actor(actor_name=names.PRESENCE_CHANGED, queue_name=names.QUEUE, max_retries=3,
                min_backoff=1_000)
def presence_changed(user_ids: list[str]) -> None:
    """P3: presence notifications, applied as they arrive."""
    if not presence.changed(runtime(), user_ids):
        raise dramatiq.Retry("a presence poll is running", delay=1_000)
