"""Errors of entra-pbx-sync, one root and shallow branches.

    SyncError
    ├── ConfigError            settings missing or invalid (every problem listed at once)
    ├── SealError              a stored secret no key opens (SECRET_KEY changed, no fallback)
    ├── AuthError              no token could be had; `reason` says why
    ├── TransportError         no answer: refused, reset or timed out
    └── ApiError               an answer that says no: method, URL, status, body excerpt
        ├── ThrottledError     429/5xx still failing after retries; `retry_after` if known
        ├── GraphError         Graph's `error.code`
        │   └── DeltaExpiredError   the delta link is dead: read everything again
        └── PbxError           the OpenAPI's `errcode` and `errmsg`
            ├── PbxDuplicateError   40003, with the clashing fields
            ├── PbxNotFoundError    60001
            └── PbxLimitError       60002 (capacity, 63 groups, 8 tokens)

Messages never carry a secret: URLs and bodies are redacted before they are kept.
"""

from __future__ import annotations

import re
from typing import Any

_SECRET_QUERY = re.compile(r"((?:access_token|refresh_token|client_secret|code|password)=)[^&#\s]+",
                           re.I)
_SECRET_JSON = re.compile(
    r'("(?:access_token|refresh_token|client_secret|password|user_password|reg_password|'
    r'id_token)"\s*:\s*")[^"]*(")', re.I)
EXCERPT_CHARS = 300


def redact(text: str) -> str:
    """`text` with token, secret and password values replaced by `***`."""
    return _SECRET_JSON.sub(r"\1***\2", _SECRET_QUERY.sub(r"\1***", text))


class SyncError(Exception):
    """The root of every error the product raises on purpose."""


class ConfigError(SyncError):
    """Settings are missing or invalid; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class SealError(SyncError):
    """A sealed secret that neither SECRET_KEY nor SECRET_KEY_FALLBACKS opens; `key_id` names
    the key that sealed it (empty for a seal from before key ids)."""

    def __init__(self, key_id: str) -> None:
        made_by = f"key id {key_id}" if key_id else "a key from before key ids"
        super().__init__(f"a stored secret was sealed with {made_by}, which is neither "
                         "SECRET_KEY nor one of SECRET_KEY_FALLBACKS")
        self.key_id = key_id


class AuthError(SyncError):
    """A token could not be acquired.

    `reason` is one of bad_secret, secret_expired, tenant_not_found, app_not_found,
    consent_missing, network, refused.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {redact(message)}")
        self.reason = reason


class TransportError(SyncError):
    """The request got no answer; `retryable` is False when it may have been processed."""

    def __init__(self, method: str, url: str, cause: str, *, retryable: bool) -> None:
        self.method, self.url, self.retryable = method, redact(url), retryable
        super().__init__(f"{method} {self.url}: {redact(cause)}")


class ApiError(SyncError):
    """An API answered with an error."""

    def __init__(self, method: str, url: str, status: int, body: str, detail: str = "") -> None:
        self.method, self.url, self.status = method, redact(url), status
        self.excerpt = redact(body[:EXCERPT_CHARS])
        super().__init__(f"{method} {self.url} -> {status}{': ' + detail if detail else ''}"
                         f" {self.excerpt}".rstrip())


class ThrottledError(ApiError):
    """Still throttled or unavailable after the retries; `retry_after` in seconds if given."""

    def __init__(self, method: str, url: str, status: int, body: str,
                 retry_after: float | None) -> None:
        super().__init__(method, url, status, body, "throttled or unavailable")
        self.retry_after = retry_after


class GraphError(ApiError):
    """Graph answered with `{"error": {"code", "message"}}`."""

    def __init__(self, method: str, url: str, status: int, body: str, code: str,
                 message: str) -> None:
        super().__init__(method, url, status, body, f"{code}: {message}")
        self.code, self.message = code, message


class DeltaExpiredError(GraphError):
    """The delta link is expired or reset (410, syncStateNotFound, resyncRequired)."""


class PbxError(ApiError):
    """The OpenAPI answered a non-zero `errcode`."""

    def __init__(self, method: str, url: str, body: dict[str, Any], raw: str) -> None:
        self.errcode = int(body.get("errcode", -1))
        self.errmsg = str(body.get("errmsg", ""))
        self.body = body
        super().__init__(method, url, 200, raw, f"errcode {self.errcode} {self.errmsg}")


class PbxDuplicateError(PbxError):
    """40003: a unique field (number, email, name) is taken."""

    @property
    def fields(self) -> list[dict[str, Any]]:
        return list(self.body.get("duplicate_field_list", []))


class PbxNotFoundError(PbxError):
    """60001: the object does not exist."""


class PbxLimitError(PbxError):
    """60002: a quantity limit is reached."""
