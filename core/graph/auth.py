"""Microsoft identity through MSAL (the one module that imports msal): app-only Graph tokens,
sign-in with Microsoft, and the delegated tokens of an admin who authorized presence
subscriptions (which Graph allows with a delegated token only)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import jwt
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


class SignIn:
    """Sign-in with Microsoft (S1): the authorization-code flow with PKCE, through MSAL.

    MSAL checks `state` and `nonce` but, since 1.38, not the ID token's signature, issuer or
    audience; `finish` checks them against the tenant's published keys with PyJWT. With
    `scopes` beyond sign-in, the tokens stay in an MSAL cache that `cache_blob` serializes
    and `cache` restores, so `delegated_token` can refresh them later in another process.
    """

    SCOPES = ("User.Read",)

    def __init__(self, *, tenant_id: str, client_id: str, client_secret: str,
                 authority_host: str, session: requests.Session, timeout: float = 30.0,
                 scopes: tuple[str, ...] = SCOPES, cache: str | None = None) -> None:
        self.client_id = client_id
        self.scopes = list(scopes)
        self._authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._session = session
        self._cache = msal.SerializableTokenCache()
        if cache:
            self._cache.deserialize(cache)
        known = urlsplit(authority_host).hostname in MICROSOFT_HOSTS
        try:
            self._app = msal.ConfidentialClientApplication(
                client_id, client_credential=client_secret, authority=self._authority,
                http_client=session, timeout=timeout, token_cache=self._cache,
                instance_discovery=None if known else False)
        except requests.RequestException as exc:
            raise AuthError("network", f"authority unreachable: {type(exc).__name__}") from None
        except ValueError as exc:
            raise AuthError("tenant_not_found", str(exc).splitlines()[0]) from None

    def begin(self, redirect_uri: str) -> dict[str, Any]:
        """A new flow: `auth_uri` to send the browser to, and what `finish` needs back."""
        return dict(self._app.initiate_auth_code_flow(self.scopes, redirect_uri=redirect_uri,
                                                      response_mode="form_post"))

    def finish(self, flow: dict[str, Any], answer: dict[str, str]) -> dict[str, Any]:
        """The verified ID token claims of the signed-in user; raises AuthError."""
        try:
            result = self._app.acquire_token_by_auth_code_flow(flow, answer)
        except (ValueError, RuntimeError) as exc:  # state or nonce mismatch
            raise AuthError("refused", f"sign-in answer rejected: {exc}") from None
        if "id_token" not in result:
            raise AuthError("refused", f"{result.get('error')}: "
                            f"{result.get('error_description', '')}")
        return self._verified(str(result["id_token"]))

    def delegated_token(self, *, fresh: bool = False) -> str:
        """An access token of the signed-in account, refreshed through the cache when needed;
        AuthError `reauthorize` when the account must sign in again."""
        accounts = self._app.get_accounts()
        if not accounts:
            raise AuthError("reauthorize", "no signed-in account: authorize again")
        try:
            result = self._app.acquire_token_silent_with_error(
                self.scopes, account=accounts[0], force_refresh=fresh)
        except requests.RequestException as exc:
            raise AuthError("network", f"token endpoint unreachable: {type(exc).__name__}") \
                from None
        if result and "access_token" in result:
            return str(result["access_token"])
        detail = f"{result.get('error')}: {result.get('error_description', '')}" if result else ""
        raise AuthError("reauthorize", f"the authorization lapsed; sign in again ({detail})")

    def cache_blob(self) -> str | None:
        """The serialized token cache when it changed since it was loaded or last asked."""
        if not self._cache.has_state_changed:
            return None
        self._cache.has_state_changed = False
        return str(self._cache.serialize())

    def _verified(self, id_token: str) -> dict[str, Any]:
        try:
            discovery = self._session.get(
                f"{self._authority}/v2.0/.well-known/openid-configuration", timeout=30).json()
            keys = self._session.get(discovery["jwks_uri"], timeout=30).json()["keys"]
            kid = jwt.get_unverified_header(id_token).get("kid")
            key = next(k for k in keys if k.get("kid") == kid)
            return dict(jwt.decode(id_token, jwt.PyJWK(key).key, algorithms=["RS256"],
                                   audience=self.client_id, issuer=discovery["issuer"]))
        except (requests.RequestException, KeyError, StopIteration, ValueError,
                jwt.PyJWTError) as exc:
            raise AuthError("refused", f"the ID token did not verify: {exc}") from None
