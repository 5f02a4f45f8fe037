"""The clock: schedule arithmetic across daylight saving, settings reloads, one firing per minute."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from dramatiq.brokers.stub import StubBroker

from core.config import Settings
from core.connection import ConnectionStore, Credentials
from core.secret_box import SecretBox
from core.store.redis import StateStore
from core.store.stub import stub_store
from core.sync_settings import defaults, merge
from workers.clock import Clock, trigger_for

PARIS = ZoneInfo("Europe/Paris")


def fires(schedule: dict[str, str], start: dt.datetime, count: int) -> list[dt.datetime]:
    trigger, times, previous = trigger_for(schedule), [], None
    now = start
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, now)
        times.append(previous)
        now = previous + dt.timedelta(seconds=1)
    return times


def test_daily_schedule_keeps_wall_clock_time_across_daylight_saving() -> None:
    schedule = {"frequency": "daily", "weekday": "saturday", "time": "00:30",
                "timezone": "Europe/Paris"}

    times = fires(schedule, dt.datetime(2026, 10, 24, 12, 0, tzinfo=PARIS), 3)

    assert [t.astimezone(PARIS).strftime("%m-%d %H:%M") for t in times] == [
        "10-25 00:30", "10-26 00:30", "10-27 00:30"]
    assert [t.astimezone(PARIS).utcoffset() for t in times] == [
        dt.timedelta(hours=2), dt.timedelta(hours=1), dt.timedelta(hours=1)]


def test_a_time_that_repeats_when_clocks_go_back_fires_once() -> None:
    schedule = {"frequency": "daily", "weekday": "saturday", "time": "02:30",
                "timezone": "Europe/Paris"}

    times = fires(schedule, dt.datetime(2026, 10, 24, 12, 0, tzinfo=PARIS), 3)

    assert [t.astimezone(PARIS).strftime("%m-%d %H:%M%z") for t in times] == [
        "10-25 02:30+0200", "10-26 02:30+0100", "10-27 02:30+0100"]


def test_a_time_skipped_when_clocks_go_forward_fires_at_that_instant() -> None:
    schedule = {"frequency": "daily", "weekday": "saturday", "time": "02:30",
                "timezone": "Europe/Paris"}

    times = fires(schedule, dt.datetime(2027, 3, 27, 12, 0, tzinfo=PARIS), 2)

    assert [t.astimezone(PARIS).strftime("%m-%d %H:%M") for t in times] == [
        "03-28 03:30", "03-29 02:30"]


def test_weekly_schedule_fires_on_its_weekday() -> None:
    schedule = {"frequency": "weekly", "weekday": "wednesday", "time": "23:15",
                "timezone": "Asia/Shanghai"}

    times = fires(schedule, dt.datetime(2026, 11, 24, tzinfo=dt.UTC), 2)

    shanghai = ZoneInfo("Asia/Shanghai")
    assert [t.astimezone(shanghai).strftime("%A %H:%M") for t in times] == ["Wednesday 23:15"] * 2
    assert times[1] - times[0] == dt.timedelta(days=7)


def test_two_clocks_send_one_reconciliation_per_firing() -> None:
    state = stub_store()
    broker = StubBroker()
    broker.declare_queue("default")
    clocks = [Clock(state, broker, BackgroundScheduler()) for _ in range(2)]
    at = dt.datetime(2026, 11, 25, 0, 30, 0, 300_000, tzinfo=dt.UTC)

    sent = [clock.reconcile(at) for clock in clocks] + [clocks[0].reconcile(
        at + dt.timedelta(days=1))]

    assert sent == [True, False, True]
    assert [json.loads(m)["actor_name"] for m in broker.queues["default"].queue] == [
        "reconcile", "reconcile"]


def test_a_new_schedule_is_picked_up_without_a_restart() -> None:
    state = stub_store()
    scheduler = BackgroundScheduler(timezone=dt.UTC)
    scheduler.start(paused=True)
    try:
        clock = Clock(state, StubBroker(), scheduler)
        clock.refresh()
        unscheduled = scheduler.get_job("reconcile")  # no time zone chosen yet: never UTC
        state.save_settings(merge(defaults(), {"schedule": {"timezone": "UTC"}}))
        clock.refresh()
        first = str(scheduler.get_job("reconcile").trigger)
        state.save_settings(merge(defaults(), {"schedule": {
            "frequency": "weekly", "weekday": "monday", "time": "04:00", "timezone": "UTC"}}))

        clock.refresh()

        second = str(scheduler.get_job("reconcile").trigger)
    finally:
        scheduler.shutdown(wait=False)
    assert unscheduled is None
    assert first == "local[daily 00:30 UTC]"
    assert second == "local[monday 04:00 UTC]"


def connected_clocks(count: int) -> tuple[StateStore, StubBroker, list[Clock]]:
    """Clocks sharing one store that holds a connection and enabled switches."""
    state = stub_store()
    broker = StubBroker()
    broker.declare_queue("default")
    settings = Settings.from_env({"SECRET_KEY": "clock-test-key-Mf8Ws2Kz6Qx1Nr4Tj9Hb3Vd7Lc",
                                  "PBX_BASE_URL": "http://127.0.0.1:1",
                                  "PBX_CLIENT_ID": "id", "PBX_CLIENT_SECRET": "secret"})
    connection = ConnectionStore(state, SecretBox(settings.secret_key))
    connection.save(Credentials("tenant", "client", "secret"))
    state.set_flags(confirm=True, state="enabled")
    return state, broker, [Clock(state, broker, BackgroundScheduler(), connection=connection,
                                 settings=settings) for _ in range(count)]


def test_presence_polls_once_per_interval_and_only_when_on() -> None:
    state, broker, clocks = connected_clocks(2)
    for clock in clocks:
        clock.presence_interval = 30
    at = dt.datetime(2026, 11, 25, 9, 0, 5, tzinfo=dt.UTC)

    off = clocks[0].presence(at)
    state.save_settings(merge(defaults(), {"presence": {"enabled": True}}))
    state.mark_saved("presence")
    sent = [clock.presence(at) for clock in clocks] + [
        clocks[1].presence(at + dt.timedelta(seconds=20)),
        clocks[1].presence(at + dt.timedelta(seconds=30))]

    assert off is False and sent == [True, False, False, True]
    assert [json.loads(m)["actor_name"] for m in broker.queues["default"].queue] == [
        "poll_presence", "poll_presence"]


def test_a_presence_poll_claim_lives_a_little_longer_than_its_interval() -> None:
    state, _, [clock] = connected_clocks(1)
    state.save_settings(merge(defaults(), {"presence": {"enabled": True}}))
    state.mark_saved("presence")
    clock.presence_interval = 30
    at = dt.datetime(2026, 11, 25, 9, 0, 5, tzinfo=dt.UTC)

    assert clock.presence(at) and clock.reconcile(at)

    claims = {key.decode().split(":")[2]: state.redis.ttl(key)
              for key in state.redis.scan_iter(match=state.keys.clock_claim("*", "*"))}
    assert 30 < claims["presence"] <= 120
    assert claims["reconcile"] > 24 * 3600  # once a day or a week: a few keys, kept longer
