"""The last live check, kept in Redis (`Keys.health`), and how status shows it.

A report older than STALE_AFTER, or one that did not check a part that is on now, is shown
with `stale: true`, and whoever reads it may ask for a new check (at most one a minute).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from core.health.probes import PARTS
from core.store.redis import StateStore

STALE_AFTER = dt.timedelta(minutes=75)  # the clock checks hourly
ASK_GAP_SECONDS = 60
AFTER_FAILURE_GAP_SECONDS = 300


class HealthStore:
    def __init__(self, state: StateStore) -> None:
        self.redis, self.keys = state.redis, state.keys

    def save(self, entries: Mapping[str, Any], now: dt.datetime) -> None:
        self.redis.set(self.keys.health(), json.dumps({"checked_at": now.isoformat(),
                                                       "entries": dict(entries)}))

    def report(self) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.health())
        return json.loads(raw) if raw else None

    def claim(self, why: str = "asked", seconds: int = ASK_GAP_SECONDS) -> bool:
        """True for the first who asks for a check within `seconds` (`asked`, `after-failure`):
        repeated asks queue one check, not one each."""
        return bool(self.redis.set(self.keys.health(why), 1, nx=True, ex=seconds))

    def release(self, why: str = "asked") -> None:
        self.redis.delete(self.keys.health(why))


def shown(report: Mapping[str, Any] | None, on: Mapping[str, bool],
          now: dt.datetime) -> tuple[dict[str, dict[str, Any]], bool]:
    """What `GET /api/status` shows under `health`, and whether a new check is due."""
    entries = dict((report or {}).get("entries") or {})
    checked_at = _parsed((report or {}).get("checked_at"))
    stale = checked_at is not None and now - checked_at > STALE_AFTER
    due = checked_at is None or stale
    found: dict[str, dict[str, Any]] = {}
    for name in (*PARTS, "pbx"):
        current, wanted = entries.get(name), on.get(name, True)
        if not wanted:  # off now: whatever an earlier check found no longer matters
            found[name] = {"ok": True, "problems": [], "on": False,
                           "checked_at": (current or {}).get("checked_at")}
        elif current is None or current.get("on") is False:  # on since the last check
            due = True
            found[name] = {"ok": False, "problems": [f"{name}: not checked yet; a check is "
                                                     "on its way"], "checked_at": None}
        else:
            found[name] = dict(current) | ({"stale": True} if stale else {})
    return found, due


def _parsed(stamp: Any) -> dt.datetime | None:
    if not stamp:
        return None
    when = dt.datetime.fromisoformat(str(stamp))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
