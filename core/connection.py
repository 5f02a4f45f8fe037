"""The Entra connection (C1, C2): credentials kept encrypted in Redis, and their check.

The check acquires an app-only token and makes one Graph read; its answer is one of
`connected`, or a precise reason: bad_secret, secret_expired, tenant_not_found, app_not_found,
consent_missing, network, refused; or secret_unreadable, when no key opens the stored secret.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from core.clients import graph_client
from core.config import Settings
from core.errors import AuthError, GraphError, SealError, SyncError, ThrottledError, TransportError
from core.graph.auth import SignIn
from core.graph.client import GraphClient
from core.http import new_session
from core.secret_box import SecretBox
from core.store.redis import StateStore
from core.store.swap import swap

SECRET_WARNING_DAYS = 14
UNREADABLE = "secret_unreadable"
UNREADABLE_MESSAGE = ("the stored client secret cannot be opened with SECRET_KEY: set "
                      "SECRET_KEY_FALLBACKS to the old key, or connect again")


@dataclass(frozen=True)
class Credentials:
    tenant_id: str
    client_id: str
    client_secret: str
    secret_expires_at: str | None = None
    unreadable: bool = False  # stored under a key no longer held: no token can be had

    def __repr__(self) -> str:
        return f"Credentials(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"


class ConnectionStore:
    """Credentials and the last check result (`Keys.connection`, `Keys.connection_check`)."""

    def __init__(self, state: StateStore, box: SecretBox) -> None:
        self.state, self.box = state, box

    def credentials(self, settings: Settings) -> Credentials | None:
        raw, check = self.state.redis.mget(self.state.keys.connection(),
                                           self.state.keys.connection_check())
        if raw:
            return self._opened(raw, json.loads(check) if check else None)
        if settings.has_entra_credentials:
            return Credentials(str(settings.entra_tenant_id), str(settings.entra_client_id),
                               str(settings.entra_client_secret))
        return None

    def _opened(self, raw: bytes, check: dict[str, Any] | None) -> Credentials:
        """The stored credentials. A secret sealed under an older key is sealed again under
        SECRET_KEY; one no key opens gives `unreadable` credentials, and the check says how
        to recover until a key opens it again (then the check before it is back)."""
        stored = json.loads(raw)
        was_unreadable = (check or {}).get("reason") == UNREADABLE
        try:
            secret = self.box.open(stored["client_secret"])
        except SealError:
            if not was_unreadable:
                self.record_check({
                    "checked_at": dt.datetime.now(dt.UTC).isoformat(), "status": "error",
                    "reason": UNREADABLE, "message": UNREADABLE_MESSAGE,
                    "tenant_id": stored["tenant_id"], "client_id": stored["client_id"],
                    "before": check})
            return Credentials(stored["tenant_id"], stored["client_id"], "",
                               stored.get("secret_expires_at"), unreadable=True)
        if was_unreadable:
            before = (check or {}).get("before")
            if before:
                self.record_check(before)
            else:
                self.state.redis.delete(self.state.keys.connection_check())
        if self.box.stale(stored["client_secret"]):
            swap(self.state.redis, self.state.keys.connection(), raw,
                 json.dumps(stored | {"client_secret": self.box.seal(secret)}))
        return Credentials(stored["tenant_id"], stored["client_id"], secret,
                           stored.get("secret_expires_at"))

    def save(self, credentials: Credentials) -> None:
        self.state.redis.set(self.state.keys.connection(), json.dumps({
            "tenant_id": credentials.tenant_id, "client_id": credentials.client_id,
            "client_secret": self.box.seal(credentials.client_secret),
            "secret_expires_at": credentials.secret_expires_at}))

    def forget(self) -> None:
        self.state.redis.delete(self.state.keys.connection(), self.state.keys.connection_check())

    def record_check(self, result: dict[str, Any]) -> None:
        self.state.redis.set(self.state.keys.connection_check(), json.dumps(result))

    def last_check(self) -> dict[str, Any] | None:
        raw = self.state.redis.get(self.state.keys.connection_check())
        return json.loads(raw) if raw else None


def sign_in_for(settings: Settings, credentials: Credentials, *,
                scopes: tuple[str, ...] = SignIn.SCOPES, cache: str | None = None) -> SignIn:
    """The authorization-code flow with the app's credentials (sign-in, presence)."""
    _readable(credentials)
    return SignIn(tenant_id=credentials.tenant_id, client_id=credentials.client_id,
                  client_secret=credentials.client_secret,
                  authority_host=settings.entra_authority_host,
                  session=new_session(settings.entra_ca_bundle), scopes=scopes, cache=cache)


def client_for(settings: Settings, credentials: Credentials) -> GraphClient:
    _readable(credentials)
    return graph_client(settings, tenant_id=credentials.tenant_id,
                        client_id=credentials.client_id,
                        client_secret=credentials.client_secret)


def _readable(credentials: Credentials) -> None:
    if credentials.unreadable:
        raise AuthError(UNREADABLE, UNREADABLE_MESSAGE)


def check(settings: Settings, credentials: Credentials, *, now: dt.datetime,
          graph: GraphClient | None = None) -> dict[str, Any]:
    """Acquire a token and read one user; `status` is `connected` or `error` with a reason.

    Run when credentials are saved, and by every live health check (core/health), so that
    `connected` says what Graph answered within the hour, not only at connect time.
    """
    result: dict[str, Any] = {"checked_at": now.isoformat(), "tenant_id": credentials.tenant_id,
                              "client_id": credentials.client_id}
    try:
        graph = graph or client_for(settings, credentials)
        graph.request("GET", "users", params={"$top": "1", "$select": "id"})
    except AuthError as exc:
        return result | {"status": "error", "reason": exc.reason, "message": str(exc)}
    except GraphError as exc:
        reason = "consent_missing" if exc.status == 403 else "refused"
        return result | {"status": "error", "reason": reason, "message": str(exc)}
    except (TransportError, ThrottledError) as exc:
        return result | {"status": "error", "reason": "network", "message": str(exc)}
    except SyncError as exc:
        return result | {"status": "error", "reason": "refused", "message": str(exc)}
    return result | {"status": "connected"} | secret_warning(credentials, now)


def shown_check(last: dict[str, Any] | None, credentials: Credentials,
                now: dt.datetime) -> dict[str, Any]:
    """The last check as status shows it, with the secret's expiry warning computed now (C2):
    a secret that is about to expire is warned of on every read, not only when it was saved."""
    kept = {k: v for k, v in (last or {"status": "unchecked"}).items()
            if k not in ("warning", "secret_expires_at")}
    return kept | secret_warning(credentials, now)


def secret_warning(credentials: Credentials, now: dt.datetime) -> dict[str, Any]:
    """A warning when the client secret expires within two weeks (C2), where its expiry is known."""
    if not credentials.secret_expires_at:
        return {}
    expires = dt.datetime.fromisoformat(credentials.secret_expires_at.replace("Z", "+00:00"))
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    days = (expires - now).total_seconds() / 86400
    if days > SECRET_WARNING_DAYS:
        return {"secret_expires_at": credentials.secret_expires_at}
    return {"secret_expires_at": credentials.secret_expires_at,
            "warning": f"the client secret expires in {max(days, 0):.0f} days: add a new secret "
                       "in the Entra app and update it here"}
