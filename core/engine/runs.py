"""Run records: what every run writes down, and the sentence an administrator reads first.

A run covers one or more parts (users, groups, contacts). Each part ends in a `PartResult`;
the run's own counts, failures, skips and held deletions are those of its parts added up,
and its state is the worst of theirs.

A record lists at most `OBJECTS_KEPT` objects in each of its lists (`failures`, `skipped`,
`held_deletions`, at the top and in each of `parts`), the first ones in plan order; the
totals (`failures_total`, `skipped_total`, `held_total`) and the counts stay exact, and the
summaries are written from the full lists. The bound is generous on purpose: it is what a
per-object view of a run can show. A record lists at most 3 x (1 + parts) x OBJECTS_KEPT
objects (the top lists repeat the parts'); at about 150 bytes an object, that is at most about
1 MB for a run of one part, and a run usually lists a few objects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

STATES = ("queued", "running", "succeeded", "partial", "failed", "blocked")
FINISHED = ("succeeded", "partial", "failed", "blocked")
COUNT_NAMES = ("created", "updated", "deleted", "released", "linked", "skipped", "failed")
_WORST = ("blocked", "failed", "partial", "succeeded")  # the first one any part has wins
OBJECTS_KEPT = 1000
PREVIEW = "preview"  # the trigger of a dry run of proposed, unsaved settings
LISTS = {"failures": "failures_total", "skipped": "skipped_total",
         "held_deletions": "held_total"}  # each list of objects, and the name of its total
_NOUNS = {"users": ("User", "users", "PBX extensions"),
          "groups": ("Group", "groups", "PBX extension groups"),
          "contacts": ("Contact", "contacts", "PBX phonebooks")}


def zero_counts() -> dict[str, int]:
    return dict.fromkeys(COUNT_NAMES, 0)


@dataclass
class PartResult:
    """How one part of a run ended."""

    part: str
    state: str = "succeeded"
    counts: dict[str, int] = field(default_factory=zero_counts)
    failures: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    held_deletions: list[dict[str, Any]] = field(default_factory=list)
    synced: int = 0
    mode: str | None = None
    error: str | None = None
    retry_after: float | None = None
    pbx_concurrency: dict[str, int] | None = None  # the width of PBX I/O: start, min, end
    summary: str = ""

    def close(self, dry_run: bool) -> PartResult:
        self.summary = part_summary(self, dry_run)
        return self


@dataclass
class Run:
    """One run: queued by the API, the clock, a notification or the CLI; kept in Redis."""

    id: str
    scope: str
    trigger: str = "manual"
    state: str = "queued"
    dry_run: bool = False
    allow_deletions: bool = False
    action: str | None = None  # disable | disconnect | pause, for a wind-down
    options: dict[str, bool] = field(default_factory=dict)
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    counts: dict[str, int] = field(default_factory=zero_counts)
    failures: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    held_deletions: list[dict[str, Any]] = field(default_factory=list)
    failures_total: int = 0
    skipped_total: int = 0
    held_total: int = 0
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    synced: int = 0
    mode: str | None = None
    error: str | None = None
    retry_after: float | None = None
    interrupted: bool = False
    progress: dict[str, Any] | None = None
    summary: str = ""
    objects_total: int = 0  # rows of per-object results (core/store/objects.py)
    objects_truncated: bool = False  # more rows than are kept
    parts_asked: list[str] = field(default_factory=list)  # a preview's parts; else the scope's
    preview: list[str] = field(default_factory=list)  # a preview's sentences (engine/preview.py)

    @classmethod
    def new(cls, scope: str, *, trigger: str = "manual", dry_run: bool = False,
            allow_deletions: bool = False, now: dt.datetime | None = None, **extra: Any) -> Run:
        """A fresh run, `queued`."""
        when = now or dt.datetime.now(dt.UTC)
        return cls(id=f"{when:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}", scope=scope,
                   trigger=trigger, dry_run=dry_run, allow_deletions=allow_deletions,
                   created_at=when.isoformat(), **extra)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Run:
        known = {f.name for f in dataclasses.fields(cls)}
        run = cls(**{k: v for k, v in raw.items() if k in known})
        for name, total in LISTS.items():  # a record from before the totals: its lists were whole
            setattr(run, total, max(getattr(run, total), len(getattr(run, name))))
        return run

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def start(self, now: dt.datetime) -> None:
        """Running from the start: a resumed run forgets what its interrupted attempt recorded."""
        self.state, self.started_at, self.interrupted = "running", now.isoformat(), False
        self.parts, self.counts, self.error = {}, zero_counts(), None
        self.failures, self.skipped, self.held_deletions = [], [], []
        self.failures_total = self.skipped_total = self.held_total = 0
        self.synced, self.mode, self.retry_after, self.finished_at = 0, None, None, None
        self.objects_total, self.objects_truncated, self.preview = 0, False, []

    def add(self, result: PartResult) -> None:
        """Take in one part's result: the run's totals are the sums of its parts, and each
        list keeps its first `OBJECTS_KEPT` objects."""
        part = dataclasses.asdict(result)
        for name, total in LISTS.items():
            rows = part[name]
            part[name], part[total] = rows[:OBJECTS_KEPT], len(rows)
            kept = getattr(self, name)
            room = max(OBJECTS_KEPT - len(kept), 0)
            kept += [row | {"part": result.part} for row in rows[:room]]
            setattr(self, total, getattr(self, total) + len(rows))
        self.parts[result.part] = part
        totals = Counter[str]()
        for each in self.parts.values():
            totals.update(each["counts"])
        self.counts = zero_counts() | dict(totals)
        self.synced += result.synced
        self.mode = self.mode or result.mode
        self.retry_after = max(filter(None, (self.retry_after, result.retry_after)), default=None)
        if result.error:
            self.error = f"{self.error}; {result.error}" if self.error else result.error

    def finish(self, now: dt.datetime, state: str | None = None,
               error: str | None = None) -> Run:
        """Close the run: its state is the worst of its parts' unless given."""
        states = [p["state"] for p in self.parts.values()]
        self.state = state or next((s for s in _WORST if s in states), "succeeded")
        self.error = error or self.error
        self.finished_at, self.progress = now.isoformat(), None
        if len(self.parts) == 1 and not error:
            self.summary = next(iter(self.parts.values()))["summary"]
        elif self.parts and not error:
            self.summary = " ".join(p["summary"] for p in self.parts.values())
        else:
            self.summary = f"Nothing was synced: {self.error}."
        return self


def planned_counts(kinds: Iterable[str | None]) -> dict[str, int]:
    """What a dry run would do, in the counts of a run record."""
    counts = Counter(kind for kind in kinds if kind)
    return {name: counts.get(name, 0) for name in COUNT_NAMES}


def part_summary(result: PartResult, dry_run: bool) -> str:
    """The sentence an administrator reads first (U9)."""
    title, things, targets = _NOUNS.get(result.part, (result.part.title(), "objects", "the PBX"))
    counts = result.counts
    tally = ", ".join(f"{counts.get(n, 0)} {n}" for n in COUNT_NAMES)
    if result.state == "failed":
        return f"{title} sync failed: {result.error}"
    if dry_run:
        held = (f" {len(result.held_deletions)} deletions would be held "
                "back: more than the limit of deletions per run."
                if result.state == "blocked" else "")
        return f"Dry run, nothing was changed. Planned: {tally}.{held}"
    failed = counts.get("failed", 0)
    if failed:
        sentence = (f"Synced {result.synced} {things} to {targets} with {failed} "
                    f"failure{'s' if failed != 1 else ''} ({tally}).")
    else:
        sentence = f"Successfully synced {result.synced} {things} to {targets} ({tally})."
    if result.state == "blocked":
        held = len(result.held_deletions)
        sentence += (f" {held} deletions were held back: more than the limit of deletions per "
                     "run. Nothing was deleted: review them on the run's page and allow them there "
                     "(or start a run with allow_deletions).")
    return sentence
