"""The clock process (Procfile `clock`): the scheduled reconciliation (M1) and the upkeep.

The reconciliation runs daily or weekly at HH:MM in the configured time zone: APScheduler
schedules, and a small trigger does the local-time arithmetic with zoneinfo. Until a time zone
is chosen (`schedule.timezone` has no default: the PBX's must be chosen) it is not scheduled.
Settings are re-read every 30 seconds, so a new schedule applies without a restart. Every
firing claims a Redis key first, so two clock processes never send the same job twice. The
hourly upkeep keeps the subscriptions and asks for a live health check.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import redis
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger

from core import logs
from core.config import Settings
from core.connection import ConnectionStore, secret_warning
from core.engine.rules import situation_of
from core.secret_box import SecretBox
from core.store.redis import StateStore
from workers.broker import (
    CHECK_HEALTH,
    MAINTAIN_SUBSCRIPTIONS,
    POLL_PRESENCE,
    RECONCILE,
    make_broker,
    send,
)

log = logging.getLogger("clock")
# A claim only has to outlive the moments other clocks could fire for the same stamp. The
# reconciliation (daily or weekly, up to an hour late) and the upkeep (hourly) make a few
# keys a week, kept for the week; a presence poll makes one every interval, so its claim
# lives one interval and a minute of clock skew between hosts.
CLAIM_TTL = 7 * 24 * 3600
POLL_CLAIM_MARGIN = 60


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class LocalTimeTrigger(BaseTrigger):
    """Fires at HH:MM local time, daily or on one weekday, in a zoneinfo time zone.

    APScheduler 3.11's cron trigger returns the same past instant again and again on the day
    clocks go back when HH:MM falls in the repeated hour; this trigger fires once, at the first
    occurrence. A time skipped when clocks go forward fires at that instant (an hour later on
    the wall clock).
    """

    def __init__(self, hour: int, minute: int, weekday: int | None, timezone: ZoneInfo) -> None:
        self.hour, self.minute, self.weekday, self.timezone = hour, minute, weekday, timezone

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None,
                           now: dt.datetime) -> dt.datetime:
        start = now if previous_fire_time is None else max(
            now, previous_fire_time + dt.timedelta(seconds=1))
        local_day = start.astimezone(self.timezone).date()
        for offset in range(9):
            day = local_day + dt.timedelta(days=offset)
            if self.weekday is not None and day.weekday() != self.weekday:
                continue
            wall = dt.datetime.combine(day, dt.time(self.hour, self.minute))
            candidate = wall.replace(tzinfo=self.timezone, fold=0).astimezone(dt.UTC)
            if candidate >= start:
                return candidate
        raise AssertionError("unreachable: a week always holds the weekday")

    def __str__(self) -> str:
        day = "daily" if self.weekday is None else WEEKDAYS[self.weekday]
        return f"local[{day} {self.hour:02d}:{self.minute:02d} {self.timezone.key}]"


NO_ZONE = ("the reconciliation is not scheduled: choose the PBX's time zone in the settings "
           "(schedule.timezone)")


def trigger_for(schedule: Mapping[str, Any]) -> LocalTimeTrigger:
    """The trigger of a schedule document (M1); it needs a time zone."""
    if not schedule.get("timezone"):
        raise ValueError(NO_ZONE)
    hour, minute = (int(part) for part in str(schedule["time"]).split(":"))
    weekday = None if schedule["frequency"] == "daily" else WEEKDAYS.index(
        str(schedule["weekday"]))
    return LocalTimeTrigger(hour, minute, weekday, ZoneInfo(str(schedule["timezone"])))


def described(schedule: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The schedule as status shows it: when the reconciliation runs next, or why it does not."""
    shown = {k: schedule.get(k) for k in ("frequency", "weekday", "time", "timezone")}
    if not schedule.get("timezone"):
        return shown | {"scheduled": False, "next_run": None, "message": NO_ZONE}
    next_run = trigger_for(schedule).get_next_fire_time(None, now)
    return shown | {"scheduled": True, "next_run": next_run.isoformat(), "message": None}


class Clock:
    def __init__(self, state: StateStore, broker: Any, scheduler: BaseScheduler, *,
                 connection: ConnectionStore | None = None,
                 settings: Settings | None = None) -> None:
        self.state, self.broker, self.scheduler = state, broker, scheduler
        self.connection, self.settings = connection, settings
        self.current: dict[str, Any] | None = None
        self.presence_interval: int | None = None

    def may_run(self, part: str) -> bool:
        """The rule every process asks (core.engine.rules), with this clock's view of the connection."""
        connected = (self.connection is not None and self.settings is not None
                     and self.connection.credentials(self.settings) is not None)
        return situation_of(self.state, connected=connected).why_not(part) is None

    def claim(self, job: str, stamp: str, ttl: int = CLAIM_TTL) -> bool:
        """True for the first clock process to claim `job` for this stamp."""
        key = self.state.keys.clock_claim(job, stamp)
        return bool(self.state.redis.set(key, 1, nx=True, ex=ttl))

    def refresh(self) -> None:
        """(Re)schedule the reconciliation and the presence poll when their settings changed."""
        settings = self.state.settings()
        interval = int(settings["presence"]["poll_interval_seconds"])
        if interval != self.presence_interval:
            self.scheduler.add_job(self.presence, "interval", seconds=interval, id="presence",
                                   replace_existing=True, coalesce=True, max_instances=1)
            self.presence_interval = interval
        schedule = dict(settings["schedule"])
        if schedule == self.current:
            return
        self.current = schedule
        if not schedule.get("timezone"):  # never a silent UTC: nothing runs until one is chosen
            if self.scheduler.get_job("reconcile") is not None:
                self.scheduler.remove_job("reconcile")
            log.warning(NO_ZONE)
            return
        self.scheduler.add_job(self.reconcile, trigger_for(schedule), id="reconcile",
                               replace_existing=True, coalesce=True, misfire_grace_time=3600)
        log.info(f"reconciliation scheduled: {schedule['frequency']} at {schedule['time']} "
                 f"{schedule['timezone']}")

    def reconcile(self, now: dt.datetime | None = None) -> bool:
        when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        if not self.claim("reconcile", when.strftime("%Y%m%dT%H%M")):
            return False
        send(self.broker, RECONCILE, "schedule")
        return True

    def presence(self, now: dt.datetime | None = None) -> bool:
        """Ask for a presence poll (the actor does nothing while presence sync is off)."""
        when = now or dt.datetime.now(dt.UTC)
        interval = self.presence_interval or 30
        bucket = int(when.timestamp() // interval)
        if not self.may_run("presence"):
            return False
        if not self.claim("presence", f"{interval}s-{bucket}", interval + POLL_CLAIM_MARGIN):
            return False
        send(self.broker, POLL_PRESENCE)
        return True

    def upkeep(self, now: dt.datetime | None = None) -> bool:
        """Hourly: keep the subscriptions alive, check each part's permissions and the PBX
        (status `health`), and warn of a client secret about to expire."""
        now = now or dt.datetime.now(dt.UTC)
        if not self.claim("upkeep", now.astimezone(dt.UTC).strftime("%Y%m%dT%H")):
            return False
        send(self.broker, MAINTAIN_SUBSCRIPTIONS)
        send(self.broker, CHECK_HEALTH, "hourly")
        if self.connection is not None and self.settings is not None:
            credentials = self.connection.credentials(self.settings)
            warning = secret_warning(credentials, now).get("warning") if credentials else None
            if warning:
                log.warning(warning)
        return True


def main() -> None:
    settings = Settings.from_env(os.environ)
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    state = StateStore(redis.Redis.from_url(settings.redis_url))
    scheduler = BlockingScheduler(timezone=dt.UTC)
    clock = Clock(state, make_broker(settings.redis_url), scheduler,
                  connection=ConnectionStore(state, SecretBox(settings.secret_key,
                                                               settings.secret_key_fallbacks)),
                  settings=settings)
    now = dt.datetime.now(dt.UTC)
    scheduler.add_job(clock.refresh, "interval", seconds=30, next_run_time=now, id="refresh")
    scheduler.add_job(clock.upkeep, "interval", hours=1, next_run_time=now, id="upkeep")
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    log.info("clock started")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()


if __name__ == "__main__":
    main()
