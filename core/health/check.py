"""Running the live checks: each part's probes against Graph, then the PBX.

A probe several parts share (listing users) runs once. Mailbox reads try up to three users,
the synced ones first, since a user without an Exchange mailbox answers 404 whatever is
granted. The PBX is checked by its token and one page of one extension; where its API says
its own time zone (`timezone/list`, the `global` entry, on firmware with several time zones),
that is read too and compared with the schedule's (M1 runs in the PBX's time zone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.engine.rules import Situation
from core.errors import SyncError
from core.graph.client import GraphClient
from core.health.probes import PARTS, Probe, no_mailbox, pbx_sentence, probes_for, sentence
from core.pbx.client import PbxClient

MAILBOX_TRIES = 3
UNVERIFIED = "unverified"
Result = SyncError | str | None  # None: granted; UNVERIFIED: no user to try it on


def entry(problems: list[str], now: dt.datetime, **extra: Any) -> dict[str, Any]:
    """One part's (or the PBX's) health as status shows it."""
    unique = list(dict.fromkeys(problems))
    return {"ok": not unique, "problems": unique, "checked_at": now.isoformat()} | extra


class Prober:
    """Runs each probe once, on the users it needs, and remembers the answer."""

    def __init__(self, graph: GraphClient, linked_users: list[str]) -> None:
        self.graph, self.linked = graph, sorted(linked_users)
        self.results: dict[Probe, Result] = {}
        self._users: list[str] | None = None

    def users(self) -> list[str]:
        """Synced users first, then the tenant's first users with a mailbox."""
        if self._users is None:
            found = self.linked[:MAILBOX_TRIES]
            try:
                page = self.graph.request("GET", "users", params={"$top": "10",
                                                                  "$select": "id,mail"})
                found += [str(u["id"]) for u in page.get("value", []) if u.get("mail")]
            except SyncError:
                pass  # the users probe names that failure
            self._users = list(dict.fromkeys(found))
        return self._users

    def run(self, probe: Probe) -> Result:
        if probe not in self.results:
            self.results[probe] = self._run(probe)
        return self.results[probe]

    def _run(self, probe: Probe) -> Result:
        if not (probe.mailbox or probe.user):
            return self._once(probe, None)
        for user in self.users()[:MAILBOX_TRIES]:
            result = self._once(probe, user)
            if result is None or not (probe.mailbox and no_mailbox(result)):
                return result
        return UNVERIFIED

    def _once(self, probe: Probe, user: str | None) -> SyncError | None:
        path = probe.path.replace("{user}", user or "")
        try:
            self.graph.request(probe.method, path, params=dict(probe.params) or None,
                               json={"ids": [user]} if probe.user else None)
        except SyncError as exc:
            return exc
        return None


def check_parts(graph: GraphClient | SyncError, on: Mapping[str, bool],
                document: Mapping[str, Any], linked_users: list[str],
                now: dt.datetime) -> dict[str, dict[str, Any]]:
    """Each part's entry: the parts that are on are probed, the others say so. `graph` is the
    client, or why none could be made (then each part that is on names that)."""
    found: dict[str, dict[str, Any]] = {}
    token_problem = graph if isinstance(graph, SyncError) else None
    if token_problem is None and any(on.values()):
        try:
            graph.token_source.token()  # type: ignore[union-attr]
        except SyncError as exc:
            token_problem = exc
    prober = Prober(graph, linked_users) if isinstance(graph, GraphClient) else None
    for part in PARTS:
        if not on.get(part):
            found[part] = entry([], now, on=False)
            continue
        problems, granted, unverified = [], [], []
        for probe in probes_for(part, document):
            result = token_problem or prober.run(probe)  # type: ignore[union-attr]
            if result is None:
                granted.append(probe.permission)
            elif result == UNVERIFIED:
                unverified.append(f"{probe.permission}: no user with a mailbox to "
                                  f"{probe.what} was found")
            else:
                problems.append(sentence(part, probe, result))  # type: ignore[arg-type]
        found[part] = entry(problems, now, on=True, granted=sorted(set(granted)),
                            **({"unverified": unverified} if unverified else {}))
    return found


def check_pbx(pbx: Callable[[], PbxClient], now: dt.datetime,
              schedule_zone: str | None) -> dict[str, Any]:
    """A token and one extension; then the PBX's own time zone, where its API tells it."""
    try:
        client = pbx()
        client.call("GET", "extension/list", params={"page": 1, "page_size": 1})
    except SyncError as exc:
        return entry([pbx_sentence(exc)], now, timezone=None)
    zone = pbx_time_zone(client)
    problems = []
    if zone and schedule_zone and not same_rules(zone, schedule_zone, now):
        problems.append(f"pbx: the schedule runs in {schedule_zone} but the PBX's time zone "
                        f"is {zone}: set schedule.timezone to {zone}")
    return entry(problems, now, timezone=zone)


def pbx_time_zone(client: PbxClient) -> str | None:
    """The PBX's time zone (an IANA name) from `timezone/list`, or None where the firmware
    has no such interface (errcode 10001) or names none."""
    try:
        answer = client.call("GET", "timezone/list", params={"timezone_type": "global",
                                                             "page": 1, "page_size": 10})
    except SyncError:
        return None
    for row in answer.get("data") or []:
        if str(row.get("timezone_type", "global")) == "global":
            return zone_named(str(row.get("timezone", "")))
    return None


def zone_named(text: str) -> str | None:
    """`UTC+8 Asia/Shanghai` → `Asia/Shanghai`, when zoneinfo knows it."""
    for word in reversed(text.split()):
        try:
            return ZoneInfo(word).key
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return None


def same_rules(one: str, other: str, now: dt.datetime) -> bool:
    """Two zone names with the same offsets now and through the coming year (aliases)."""
    try:
        a, b = ZoneInfo(one), ZoneInfo(other)
    except (ZoneInfoNotFoundError, ValueError):
        return one == other
    instants = [now + dt.timedelta(days=30 * n) for n in range(13)]
    return all(t.astimezone(a).utcoffset() == t.astimezone(b).utcoffset() for t in instants)


def parts_to_check(situation: Situation) -> dict[str, bool]:
    """The parts whose permissions are checked: those configured and on, paused or disabled
    ones too (they need them again when resumed); not those off, unsaved or not connected."""
    return {part: (refusal := situation.why_not(part)) is None
            or refusal.reason in ("paused", "disabled") for part in PARTS}
