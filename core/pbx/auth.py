"""`PbxTokenSource`: one OpenAPI token per process, refreshed before it expires.

The PBX issues at most 8 live tokens per API client and blocks an IP after 5 bad logins, so a
process holds exactly one token: it refreshes it a minute before expiry (rotating the refresh
token too), logs in again only when the refresh token is gone, and revokes it on close. A
login the PBX refused is not tried again by the same process for 15 minutes: the credentials
come from the environment, and every retry would count towards the PBX's block of the address.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from core.errors import AuthError, PbxError
from core.http import Transport

REFRESH_MARGIN = 60.0
RETRY_REFUSED_AFTER = 15 * 60.0  # seconds before a refused login is tried again


class PbxTokenSource:
    def __init__(self, *, base_url: str, client_id: str, client_secret: str, transport: Transport,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.transport = transport
        self.clock = clock
        self._lock = threading.Lock()
        self._access: str | None = None
        self._access_until = 0.0
        self._refresh: str | None = None
        self._refresh_until = 0.0
        self._refused: tuple[AuthError, float] | None = None  # the refusal, and until when
        self.logins = 0  # how many times this source logged in with the secret

    def token(self) -> str:
        with self._lock:
            now = self.clock()
            if self._access and now < self._access_until - REFRESH_MARGIN:
                return self._access
            if self._refresh and now < self._refresh_until - REFRESH_MARGIN:
                try:
                    self._grant(self._post("refresh_token", {"refresh_token": self._refresh}))
                    return str(self._access)
                except AuthError:
                    pass  # a refused refresh falls back to a login
            if self._refused is not None and now < self._refused[1]:
                raise self._refused[0]
            self.logins += 1
            try:
                self._grant(self._post("get_token", {"username": self.client_id,
                                                     "password": self._secret}))
            except AuthError as exc:
                if exc.reason in ("bad_secret", "ip_blocked", "ip_forbidden"):
                    self._refused = (exc, now + RETRY_REFUSED_AFTER)
                raise
            return str(self._access)

    def invalidate(self, token: str) -> None:
        """Drop `token` after the PBX answered 10004 for it (expired or revoked)."""
        with self._lock:
            if self._access == token:
                self._access, self._access_until = None, 0.0

    def close(self) -> None:
        """Revoke the live token, so it does not count against the PBX's limit of 8."""
        with self._lock:
            if self._access and self.clock() < self._access_until:
                with contextlib.suppress(Exception):
                    self.transport.send("GET", f"{self.base_url}/openapi/v1.0/del_token",
                                        params={"access_token": self._access})
            self._access = self._refresh = None

    def _post(self, endpoint: str, body: dict[str, str]) -> dict[str, Any]:
        url = f"{self.base_url}/openapi/v1.0/{endpoint}"
        response = self.transport.send("POST", url, json=body)
        try:
            answer = response.json()
        except ValueError:
            raise AuthError("refused", f"{endpoint}: HTTP {response.status_code}, not JSON") from None
        if answer.get("errcode") != 0:
            error = PbxError("POST", url, answer, response.text)
            reason = {70004: "ip_blocked", 60002: "token_limit", 70087: "ip_forbidden"}.get(
                error.errcode, "bad_secret")
            raise AuthError(reason, f"{endpoint}: errcode {error.errcode} {error.errmsg}")
        return dict(answer)

    def _grant(self, answer: dict[str, Any]) -> None:
        now = self.clock()
        self._access = str(answer["access_token"])
        self._access_until = now + float(answer.get("access_token_expire_time", 1800))
        self._refresh = str(answer["refresh_token"])
        self._refresh_until = now + float(answer.get("refresh_token_expire_time", 86400))
