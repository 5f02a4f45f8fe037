"""JSON log lines, one object a line, with the run id when there is one. Never a secret."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from typing import Any

from core.errors import redact

run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)
_EXTRA = ("kind", "count", "reason", "subscription_id", "actor", "status")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(), "logger": record.name,
            "message": redact(record.getMessage())}
        if run_id.get():
            entry["run_id"] = run_id.get()
        entry |= {k: getattr(record, k) for k in _EXTRA if hasattr(record, k)}
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure(level: str = "INFO") -> None:
    """Send every log line to stderr as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
