"""`get_token`, `refresh_token`, `del_token`: 30-minute tokens, at most 8 live, IP block after 5."""

from __future__ import annotations

from typing import Any

from sandbox.pbx.api import endpoint, ok
from sandbox.pbx.store import PbxFailure, PbxStore, Token

FAILED_LOGINS_BEFORE_BLOCK = 5


def _grant(token: Token, now: float) -> dict[str, Any]:
    return ok(access_token=token.access_token,
              access_token_expire_time=round(token.access_expires - now),
              refresh_token=token.refresh_token,
              refresh_token_expire_time=round(token.refresh_expires - now))


def get_token(store: PbxStore, params: dict[str, Any], *, ip: str, now: float) -> dict[str, Any]:
    """Log in with the API client id and secret."""
    if ip in store.blocked_ips:
        raise PbxFailure(70004)
    if params.get("username") != store.client_id or params.get("password") != store.client_secret:
        store.failed_logins[ip] += 1
        if store.failed_logins[ip] >= FAILED_LOGINS_BEFORE_BLOCK:
            store.blocked_ips.add(ip)
        raise PbxFailure(-1, invalid_param_list=[{"field": "username or password",
                                                   "value": "error"}])
    store.failed_logins.pop(ip, None)
    return _grant(store.issue_token(now), now)


def refresh_token(store: PbxStore, params: dict[str, Any], *, now: float) -> dict[str, Any]:
    """Trade the latest refresh token for a new access token and a new refresh token."""
    return _grant(store.refresh(str(params.get("refresh_token", "")), now), now)


@endpoint("GET", "del_token")
def del_token(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    store.revoke(str(params.get("access_token", "")))
    return ok()
