"""Sign-in: the authorization-code flow with PKCE, RS256 ID tokens, and delegated tokens.

`GET /{tenant}/oauth2/v2.0/authorize` shows a one-field form (`username`), or signs the user
named by `login_hint` in at once; `response_mode=form_post` answers with a page whose form
posts `code` and `state` to the redirect URI, as Entra does. The redirect URI must be
registered on the app (`/_sandbox/config` {"redirect_uris": [...]}), as in Entra (AADSTS50011).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, Response, jsonify, redirect, request

from sandbox.graph.auth import TOKEN_LIFETIME, oauth_error, store_of
from sandbox.graph.store import GraphStore

blueprint = Blueprint("signin", __name__)
CODE_LIFETIME = 600
DELEGATED_SCOPES = ("Presence.Read.All", "User.Read", "openid", "profile", "offline_access",
                    "email")


class SigningKey:
    """The tenant's RSA key for ID tokens, and its public JWK."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        self.jwk = jwk | {"kid": self.kid, "use": "sig", "alg": "RS256"}


def key_of(store: GraphStore) -> SigningKey:
    if not hasattr(store, "_signing_key"):
        store._signing_key = SigningKey()  # type: ignore[attr-defined]
    return store._signing_key  # type: ignore[attr-defined,no-any-return]


@blueprint.get("/<tenant>/discovery/v2.0/keys")
def keys(tenant: str) -> Response:
    return jsonify(keys=[key_of(store_of()).jwk])


def _page(title: str, body: str, status: int = 200) -> tuple[str, int]:
    return (f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
            f"<body>{body}</body></html>"), status


def _error_page(code: int, message: str) -> tuple[str, int]:
    return _page("Sign in", f"<h1>Sign in</h1><p>AADSTS{code}: {html.escape(message)}</p>", 400)


@blueprint.route("/<tenant>/oauth2/v2.0/authorize", methods=["GET", "POST"])
def authorize(tenant: str) -> Any:
    store = store_of()
    args = request.values
    if tenant not in (store.tenant_id, store.domain, "organizations", "common"):
        return _error_page(90002, f"Tenant '{tenant}' not found.")
    if args.get("client_id") != store.app.client_id:
        return _error_page(700016, f"Application with identifier '{args.get('client_id')}' "
                           "was not found in the directory.")
    redirect_uri = args.get("redirect_uri", "")
    if redirect_uri not in store.app.redirect_uris:
        return _error_page(50011, f"The redirect URI '{redirect_uri}' specified in the request "
                           "does not match the redirect URIs configured for the application.")
    if args.get("response_type") != "code":
        return _error_page(700054, "response_type 'code' is required.")
    username = args.get("username") or args.get("login_hint")
    if not username:
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in args.items())
        return _page("Sign in", f'<h1>Sign in</h1><form method="post">{hidden}'
                     '<label>Username <input name="username" autofocus></label>'
                     '<button type="submit">Sign in</button></form>')
    with store.lock:
        user = store.user(username)
        if user is None:
            return _error_page(50034, f"The user account {username} does not exist in the "
                               "directory.")
        if not user.get("accountEnabled", True):
            return _error_page(50057, "The user account is disabled.")
        code = secrets.token_urlsafe(32)
        store.tokens[f"code:{code}"] = {
            "kind": "code", "client_id": store.app.client_id, "redirect_uri": redirect_uri,
            "scope": args.get("scope", ""), "nonce": args.get("nonce"), "user_id": user["id"],
            "challenge": args.get("code_challenge"),
            "method": args.get("code_challenge_method", "plain"),
            "expires": store.clock.time() + CODE_LIFETIME}
    answer = {"code": code, "state": args.get("state", "")}
    if args.get("response_mode") == "form_post":
        fields = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
                         for k, v in answer.items())
        return _page("Working...", f'<form method="post" action="{html.escape(redirect_uri)}">'
                     f'{fields}<noscript><button type="submit">Continue</button></noscript>'
                     '</form><script>document.forms[0].submit()</script>')
    separator = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{separator}{urlencode(answer)}")


def _verifier_ok(record: dict[str, Any], verifier: str | None) -> bool:
    if not record.get("challenge"):
        return True
    if not verifier:
        return False
    if record["method"] == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=") == record["challenge"]
    return bool(verifier == record["challenge"])


def grant(store: GraphStore, form: Any, tenant: str) -> tuple[Response, int] | Response:
    """The authorization_code and refresh_token grants (the client is already authenticated)."""
    now = store.clock.time()
    with store.lock:
        if form.get("grant_type") == "refresh_token":
            record = store.tokens.pop(f"refresh:{form.get('refresh_token', '')}", None)
            if record is None or record["expires"] <= now:
                return oauth_error(400, "invalid_grant", 70008, "The refresh token has expired "
                                   "or is invalid.")
        else:
            record = store.tokens.pop(f"code:{form.get('code', '')}", None)
            if record is None or record["expires"] <= now:
                return oauth_error(400, "invalid_grant", 70008, "The provided authorization "
                                   "code or refresh token has expired or is invalid.")
            if form.get("redirect_uri") != record["redirect_uri"]:
                return oauth_error(400, "invalid_grant", 50011, "The redirect URI does not "
                                   "match the one of the authorization request.")
            if not _verifier_ok(record, form.get("code_verifier")):
                return oauth_error(400, "invalid_grant", 501481, "The Code_Verifier does not "
                                   "match the code_challenge supplied in the authorization "
                                   "request.")
        user = store.users.items.get(record["user_id"])
        if user is None or not user.get("accountEnabled", True):
            return oauth_error(400, "invalid_grant", 50057, "The user account is disabled.")
        scopes = [s for s in str(record["scope"]).split() if s.split("/")[-1] in DELEGATED_SCOPES]
        access, refresh = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
        store.tokens[access] = {"kind": "delegated", "client_id": store.app.client_id,
                                "roles": {s.split("/")[-1] for s in scopes},
                                "user_id": user["id"], "expires": now + TOKEN_LIFETIME}
        store.tokens[f"refresh:{refresh}"] = record | {"kind": "refresh",
                                                      "expires": now + 90 * 86400}
    base = request.host_url.rstrip("/")
    claims = {"iss": f"{base}/{store.tenant_id}/v2.0", "aud": store.app.client_id,
              "sub": hashlib.sha256(user["id"].encode()).hexdigest()[:43], "oid": user["id"],
              "tid": store.tenant_id, "name": user.get("displayName"),
              "preferred_username": user["userPrincipalName"], "iat": int(time.time()),
              "nbf": int(time.time()), "exp": int(time.time()) + TOKEN_LIFETIME, "ver": "2.0"}
    if record.get("nonce"):
        claims["nonce"] = record["nonce"]
    key = key_of(store)
    id_token = jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})
    client_info = base64.urlsafe_b64encode(json.dumps(
        {"uid": user["id"], "utid": store.tenant_id}).encode()).decode().rstrip("=")
    return jsonify(token_type="Bearer", scope=" ".join(scopes), expires_in=TOKEN_LIFETIME,
                   ext_expires_in=TOKEN_LIFETIME, access_token=access, refresh_token=refresh,
                   id_token=id_token, client_info=client_info)
