"""The Entra connection (C1, C2): credentials kept encrypted in Redis, and their check.

The check acquires an app-only token and makes one Graph read; its answer is one of
`connected`, or a precise reason: bad_secret, secret_expired, tenant_not_found, app_not_found,
consent_missing, network, refused.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from core.clients import graph_client
from core.config import Settings
from core.errors import AuthError, GraphError, SyncError, ThrottledError, TransportError
from core.graph.auth import SignIn
from core.graph.client import GraphClient
from core.http import new_session
from core.secret_box import SecretBox
from core.store.redis import StateStore

SECRET_WARNING_DAYS = 14


@dataclass(frozen=True)
class Credentials:
    tenant_id: str
    client_id: str
    client_secret: str
    secret_expires_at: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"


class ConnectionStore:
    """Credentials and the last check result (`Keys.connection`, `Keys.connection_check`)."""

    def __init__(self, state: StateStore, box: SecretBox) -> None:
        self.state, self.box = state, box

    def credentials(self, settings: Settings) -> Credentials | None:
        raw = self.state.redis.get(self.state.keys.connection())
        if raw:
            stored = json.loads(raw)
            return Credentials(stored["tenant_id"], stored["client_id"],
                               self.box.open(stored["client_secret"]),
                               stored.get("secret_expires_at"))
        if settings.has_entra_credentials:
            return Credentials(str(settings.entra_tenant_id), str(settings.entra_client_id),
                               str(settings.entra_client_secret))
        return None

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
    return SignIn(tenant_id=credentials.tenant_id, client_id=credentials.client_id,
                  client_secret=credentials.client_secret,
                  authority_host=settings.entra_authority_host,
                  session=new_session(settings.entra_ca_bundle), scopes=scopes, cache=cache)


def client_for(settings: Settings, credentials: Credentials) -> GraphClient:
    return graph_client(settings, tenant_id=credentials.tenant_id,
                        client_id=credentials.client_id,
                        client_secret=credentials.client_secret)


def check(settings: Settings, credentials: Credentials, *, now: dt.datetime) -> dict[str, Any]:
    """Acquire a token and read one user; `status` is `connected` or `error` with a reason."""
    result: dict[str, Any] = {"checked_at": now.isoformat(), "tenant_id": credentials.tenant_id,
                              "client_id": credentials.client_id}
    try:
        graph = client_for(settings, credentials)
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
