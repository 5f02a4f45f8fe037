"""The probe's findings: one `Check` per endpoint, rendered one line each, and kept as JSON."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from core.errors import (
    AuthError,
    ConfigError,
    GraphError,
    PbxError,
    SyncError,
    ThrottledError,
    TransportError,
    redact,
)


@dataclass
class Check:
    """One endpoint: what was asked, which contract section it answers to, what differed."""

    name: str
    request: str
    source: str = ""
    permission: str | None = None
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.differences

    def differ(self, *problems: str) -> None:
        for problem in map(_one_line, problems):
            if problem not in self.differences:  # the same on many pages: said once
                self.differences.append(problem)

    def note(self, text: str) -> None:
        if _one_line(text) not in self.notes:
            self.notes.append(_one_line(text))

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "request": self.request, "source": self.source,
                "permission": self.permission, "outcome": "same" if self.same else "different",
                "differences": self.differences, "notes": self.notes}


def _one_line(text: str) -> str:
    return redact(" ".join(text.split()))


@contextlib.contextmanager
def answered(check: Check) -> Iterator[None]:
    """Record a refused or failed call as a difference of `check`, and go on with the next."""
    try:
        yield
    except SyncError as exc:
        check.differ(refusal(exc, check.permission))


def refusal(exc: SyncError, permission: str | None = None) -> str:
    """A failed call in one sentence; a 403 names the permission the call needs."""
    if isinstance(exc, ThrottledError):
        return f"HTTP {exc.status} (still after retries): {exc.excerpt[:160]}"
    if isinstance(exc, GraphError):
        text = f"HTTP {exc.status} {exc.code}: {exc.message[:160]}"
        if exc.status == 403:
            text += (f" — the app lacks the permission {permission} (docs/setup.md)" if permission
                     else " — permission refused")
        return text
    if isinstance(exc, PbxError):
        return f"errcode {exc.errcode} {exc.errmsg}"
    if isinstance(exc, AuthError):
        return f"no token: {exc}"
    if isinstance(exc, TransportError):
        return f"no answer: {exc}"
    if isinstance(exc, ConfigError):
        return f"not configured: {exc}"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Report:
    started_at: str
    targets: dict[str, str | None]
    credentials: dict[str, str]
    write_test_extension: str | None = None
    checks: list[Check] = field(default_factory=list)
    finished_at: str = ""

    @property
    def different(self) -> list[Check]:
        return [c for c in self.checks if not c.same]

    def summary(self) -> str:
        if not self.different:
            return "no difference"
        total = sum(len(c.differences) for c in self.different)
        return (f"{total} difference{'s' if total != 1 else ''} in {len(self.different)} of "
                f"{len(self.checks)} endpoints")

    def render(self) -> str:
        """One line per endpoint ("same", or each difference), then the summary."""
        width = max((len(c.name) for c in self.checks), default=10) + 2
        lines = [f"credentials: Graph {self.credentials.get('graph', '?')}, "
                 f"PBX {self.credentials.get('pbx', '?')}"]
        for check in self.checks:
            verdict = "same" if check.same else "DIFFERENT: " + "; ".join(check.differences)
            notes = f"  ({'; '.join(check.notes)})" if check.notes else ""
            lines.append(f"{check.name:<{width}}{verdict}{notes}")
        lines.append(self.summary())
        return redact("\n".join(lines))

    def as_json(self) -> dict[str, Any]:
        return {"probe": "entra-pbx-sync contract probe", "started_at": self.started_at,
                "finished_at": self.finished_at, "targets": self.targets,
                "credentials": self.credentials,
                "write_test_extension": self.write_test_extension,
                "result": self.summary(), "differences": sum(len(c.differences)
                                                             for c in self.checks),
                "checks": [c.as_json() for c in self.checks]}
