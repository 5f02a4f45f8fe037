"""Run records: what every sync run writes down, and the sentence an administrator reads first."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from core.engine.outcome import Outcome
from core.store.redis import StateStore

COUNT_NAMES = ("created", "updated", "deleted", "released", "linked", "skipped", "failed")
_NOUNS = {"groups": ("Group", "groups", "PBX extension groups"),
          "contacts": ("Contact", "contacts", "PBX phonebooks")}
_DEFAULT_NOUNS = ("User", "users", "PBX extensions")


def new_run(scope: str, *, dry_run: bool = False, trigger: str = "manual",
            now: dt.datetime | None = None) -> dict[str, Any]:
    """A fresh run record, `queued`."""
    when = now or dt.datetime.now(dt.UTC)
    return {"id": f"{when:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}", "scope": scope,
            "trigger": trigger, "state": "queued", "dry_run": dry_run,
            "created_at": when.isoformat(), "started_at": None, "finished_at": None,
            "counts": dict.fromkeys(COUNT_NAMES, 0), "failures": [], "skipped": [],
            "held_deletions": [], "summary": "", "error": None}


def planned_counts(ops: Iterable[Any], kinds: Mapping[type, str]) -> dict[str, int]:
    """What a dry run would do, in the counts of a run record; `kinds` names each operation."""
    counts = Counter(kinds[type(op)] for op in ops if type(op) in kinds)
    return {name: counts.get(name, 0) for name in COUNT_NAMES}


def start(state: StateStore, run: dict[str, Any], now: Callable[[], dt.datetime]) -> None:
    run |= {"state": "running", "started_at": now().isoformat()}
    state.save_run(run)


def record(run: dict[str, Any], outcome: Outcome) -> None:
    """Counts, failures and skips of an applied run."""
    run["counts"] |= {name: outcome.counts.get(name, 0) for name in COUNT_NAMES}
    if outcome.counts.get("welcome_emails"):
        run["counts"]["welcome_emails"] = outcome.counts["welcome_emails"]
    run["failures"], run["skipped"] = outcome.failures, outcome.skipped


def finish(state: StateStore, run: dict[str, Any], now: Callable[[], dt.datetime], status: str,
           *, error: str | None = None) -> dict[str, Any]:
    run |= {"state": status, "finished_at": now().isoformat(), "error": error}
    run["summary"] = summary(run)
    state.save_run(run)
    return run


def summary(run: Mapping[str, Any]) -> str:
    """The sentence an administrator reads first (U9)."""
    title, things, targets = _NOUNS.get(str(run.get("scope")), _DEFAULT_NOUNS)
    counts = run["counts"]
    tally = ", ".join(f"{counts.get(n, 0)} {n}" for n in COUNT_NAMES)
    if run["state"] == "failed":
        return f"{title} sync failed: {run['error']}"
    if run["dry_run"]:
        return f"Dry run, nothing was changed. Planned: {tally}."
    sentence = f"Successfully synced {run.get('synced', 0)} {things} to {targets} ({tally})."
    if run["state"] == "blocked":
        held = len(run["held_deletions"])
        sentence += (f" {held} deletions were held back: more than the limit of deletions per "
                     "run. Nothing was deleted; start a run with allow_deletions to apply them.")
    return sentence
