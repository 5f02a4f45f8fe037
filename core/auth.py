"""App-only Microsoft Graph tokens through MSAL (the one module that imports msal)."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import msal
import requests

from core.errors import AuthError

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MICROSOFT_HOSTS = frozenset({"login.microsoftonline.com", "login.microsoftonline.us",
                             "login.partner.microsoftonline.cn"})
_REASONS = {7000215: "bad_secret", 7000222: "secret_expired", 90002: "tenant_not_found",
            700016: "app_not_found", 65001: "consent_missing", 90099: "consent_missing"}


class GraphTokenSource:
    """Client-credentials tokens for one app registration, cached by MSAL until near expiry."""

    def __init__(self, *, tenant_id: str, client_id: str, client_secret: str,
                 authority_host: str, session: requests.Session, scope: str = GRAPH_SCOPE,
                 timeout: float = 30.0) -> None:
        self.tenant_id, self.client_id = tenant_id, client_id
        self._secret = client_secret
        self._authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._known_host = urlsplit(authority_host).hostname in MICROSOFT_HOSTS
        self._session = session
        self._scope = scope
        self._timeout = timeout
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        """An access token; raises AuthError with a precise `reason`."""
        with self._lock:
            app = self._application()
            try:
                result = app.acquire_token_for_client(scopes=[self._scope])
            except requests.RequestException as exc:
                raise AuthError("network", f"token endpoint unreachable: {type(exc).__name__}") \
                    from None
        if "access_token" in result:
            return str(result["access_token"])
        codes = result.get("error_codes") or []
        reason = next((_REASONS[c] for c in codes if c in _REASONS), "refused")
        raise AuthError(reason, f"{result.get('error')}: {result.get('error_description', '')}")

    def invalidate(self) -> None:
        """Forget cached tokens, after Graph refused one."""
        with self._lock:
            if self._app is not None:
                self._app.remove_tokens_for_client()

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id, client_credential=self._secret, authority=self._authority,
                    http_client=self._session, timeout=self._timeout,
                    instance_discovery=None if self._known_host else False)
            except requests.RequestException as exc:
                raise AuthError("network", f"authority unreachable: {type(exc).__name__}") \
                    from None
            except ValueError as exc:  # MSAL's answer to a discovery document it cannot get
                raise AuthError("tenant_not_found", str(exc).splitlines()[0]) from None
        return self._app
