"""Recording what administrators and signed-in users change, in the audit log.

Views call `audit(action, details)` after a change succeeded (never for a refused one); the
entry gets the time, who acted (webhook/auth.py `acting`) and the client's address as the
rate limits see it. Details never carry a secret: a key that names one is dropped here too,
whatever a caller passes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import current_app

from core.store.audit import AuditLog
from webhook.auth import acting
from webhook.limits import address

SECRET_NAMES = frozenset({"client_secret", "password", "user_password", "reg_password",
                          "token", "access_token", "refresh_token", "cache"})


def audit(action: str, details: Mapping[str, Any], *, actor: str | None = None,
          source: str | None = None) -> None:
    """Record one change made by this request (`actor` when it acts for someone earlier;
    `actor` and `source` both given outside a request, by a command)."""
    state = current_app.extensions["state"]
    AuditLog(state.redis, state.keys).record({
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "actor": actor or acting(), "action": action, "details": _cleaned(details),
        "source": source or address()})


def changed_fields(before: Any, after: Any, prefix: str = "") -> list[dict[str, Any]]:
    """One `{"field", "old", "new"}` per leaf that differs, by dotted path; lists are leaves."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        found: list[dict[str, Any]] = []
        for key in sorted(set(before) | set(after), key=str):
            found += changed_fields(before.get(key), after.get(key),
                                    f"{prefix}.{key}" if prefix else str(key))
        return found
    return [] if before == after else [{"field": prefix, "old": before, "new": after}]


def _cleaned(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _cleaned(v) for k, v in value.items() if str(k) not in SECRET_NAMES}
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    return value
