"""Presence change notifications (P3): one subscription, made with an admin's delegated token.

Graph accepts presence subscriptions from delegated tokens only, one per signed-in account and
app, for at most 650 users and 60 minutes (contracts §1.9, §12). An admin authorizes once
through the authorization-code flow; the MSAL token cache is kept sealed in Redis, and each
use refreshes and stores it again. The subscription covers the first 650 synced users whose
presence sync is on; everyone else is polled. It is renewed when less than 20 minutes are
left, and replaced when the users it should cover change.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.oid import NameOID

from core.config import Settings
from core.connection import Credentials, sign_in_for
from core.errors import AuthError, GraphError, SealError, SyncError
from core.graph.auth import SignIn
from core.graph.client import GraphClient
from core.http import Transport, new_session
from core.presence.plan import effective
from core.secret_box import SecretBox
from core.store.redis import StateStore
from core.store.swap import swap
from core.subscriptions import SubscriptionStore, iso, kind_of, recently_authorized

SCOPES = ("Presence.Read.All",)
CERTIFICATE_DAYS = 730
CERTIFICATE_RENEW_DAYS = 30
MAX_IDS = 650
LIFETIME = dt.timedelta(minutes=55)
RENEW_WHEN_LEFT = dt.timedelta(minutes=20)
UNREADABLE = ("the stored presence authorization cannot be opened with SECRET_KEY: authorize "
              "again, or set SECRET_KEY_FALLBACKS to the old key; meanwhile everyone is polled")


class PresenceAuthorization:
    """Who authorized presence subscriptions, and their sealed MSAL token cache."""

    def __init__(self, state: StateStore, box: SecretBox) -> None:
        self.redis, self.key, self.box = state.redis, state.keys.presence("authorization"), box

    def get(self) -> dict[str, Any] | None:
        raw = self.redis.get(self.key)
        return json.loads(raw) if raw else None

    def save(self, *, account: str, user_id: str, cache: str, now: dt.datetime) -> None:
        self.redis.set(self.key, json.dumps({
            "account": account, "user_id": user_id, "authorized_at": now.isoformat(),
            "cache": self.box.seal(cache), "problem": None}))

    def cache(self) -> str | None:
        """The opened token cache, or None when nobody authorized or no key opens it (as good
        as not authorized). One sealed under an older key is sealed again under SECRET_KEY,
        unless a refresh stored a new one meanwhile."""
        raw = self.redis.get(self.key)
        if not raw:
            return None
        record = json.loads(raw)
        try:
            cache = self.box.open(record["cache"])
        except SealError:
            return None
        if self.box.stale(record["cache"]):
            swap(self.redis, self.key, raw, json.dumps(record | {"cache": self.box.seal(cache)}))
        return cache

    def update(self, **changes: Any) -> None:
        record = self.get()
        if record is None:
            return
        if "cache" in changes:
            changes["cache"] = self.box.seal(changes["cache"])
        self.redis.set(self.key, json.dumps(record | changes))

    def forget(self) -> None:
        self.redis.delete(self.key)

    def public(self) -> dict[str, Any]:
        """What status shows: who and when, never the tokens."""
        record = self.get()
        if record is None:
            return {"authorized": False}
        shown = {k: v for k, v in record.items() if k != "cache"}
        if self.cache() is None:
            return shown | {"authorized": False, "problem": UNREADABLE}
        return {"authorized": True} | shown


class DelegatedTokens:
    """The token source of a GraphClient acting as the admin who authorized presence.

    MSAL is set up on the first token asked for, so a client that makes no call costs none.
    """

    def __init__(self, make: Callable[[], SignIn], authorization: PresenceAuthorization) -> None:
        self.make, self.authorization = make, authorization
        self.sign_in: SignIn | None = None
        self._fresh = False

    def token(self) -> str:
        if self.sign_in is None:
            self.sign_in = self.make()
        try:
            token = self.sign_in.delegated_token(fresh=self._fresh)
        except AuthError as exc:
            if exc.reason == "reauthorize":
                self.authorization.update(problem=str(exc))
            raise
        finally:
            blob = self.sign_in.cache_blob()  # a refresh token is used once: keep the new one
            if blob:
                self.authorization.update(cache=blob)
        self._fresh = False
        return token

    def invalidate(self) -> None:
        self._fresh = True


def sign_in(settings: Settings, credentials: Credentials, cache: str | None = None) -> SignIn:
    """The authorization-code flow for presence, with the app's credentials."""
    return sign_in_for(settings, credentials, scopes=SCOPES, cache=cache)


def delegated_client(settings: Settings, credentials: Credentials,
                     authorization: PresenceAuthorization) -> GraphClient | None:
    """A GraphClient with the authorizing admin's tokens, or None when nobody authorized."""
    cache = authorization.cache()
    if cache is None:
        return None
    tokens = DelegatedTokens(lambda: sign_in(settings, credentials, cache), authorization)
    return GraphClient(base_url=settings.graph_base_url,
                       transport=Transport(new_session(settings.entra_ca_bundle)),
                       token_source=tokens)


def certificate(state: StateStore, box: SecretBox, now: dt.datetime) -> tuple[str, str]:
    """(base64 DER, id) of this installation's self-signed encryption certificate.

    Graph asks presence subscriptions to carry one ("Always specify the encryptionCertificate
    parameter ... to avoid failure"), though ours ask for no resource data. Made once, kept in
    Redis with its private key sealed (for rich notifications, should they be wanted), and
    made anew 30 days before it expires.
    """
    key = state.keys.presence("certificate")
    raw = state.redis.get(key)
    if raw:
        stored = json.loads(raw)
        if dt.datetime.fromisoformat(stored["expires_at"]) - now > dt.timedelta(
                days=CERTIFICATE_RENEW_DAYS):
            return stored["certificate"], stored["id"]
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "entra-pbx-sync presence")])
    expires = now + dt.timedelta(days=CERTIFICATE_DAYS)
    made = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(expires)
            .sign(private, hashes.SHA256()))
    stored = {"id": secrets.token_hex(8), "expires_at": expires.isoformat(),
              "certificate": base64.b64encode(made.public_bytes(Encoding.DER)).decode(),
              "key": box.seal(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                    NoEncryption()).decode())}
    state.redis.set(key, json.dumps(stored))
    return stored["certificate"], stored["id"]


def covered_users(state: StateStore) -> list[str]:
    """The synced users a presence subscription covers: presence on, first 650 by id."""
    preferences = state.presence_preferences()
    wanted = sorted(uid for uid in state.user_links()
                    if effective(preferences.get(uid))["enabled"])
    return wanted[:MAX_IDS]


def resource_for(user_ids: list[str]) -> str:
    quoted = ",".join(f"'{uid}'" for uid in user_ids)
    return f"communications/presences?$filter=id in ({quoted})"


def current(store: SubscriptionStore) -> dict[str, Any] | None:
    """Our presence subscription, if we hold one."""
    return next((r for r in store.all().values() if kind_of(r) == "presence"), None)


def keep(graph: GraphClient, store: SubscriptionStore, user_ids: list[str], *,
         notification_url: str, lifecycle_url: str, now: dt.datetime, owner: str,
         certificate: tuple[str, str], renew: bool = False) -> tuple[list[str], bool]:
    """Make the presence subscription cover `user_ids`, renewing it near expiry or when asked
    (a renewal also reauthorizes it); the ids covered, and whether it is new or renewed (its
    users' presence may have changed unseen meanwhile)."""
    record = current(store)
    if record is not None and (record.get("user_ids") != user_ids or not store.opens(record)):
        drop(graph, store)  # other users, or a client state no key opens: its notifications
        record = None  # would all be dropped while its users go unpolled
    if not user_ids:
        return [], False
    if record is None:
        client_state = secrets.token_urlsafe(32)
        resource = resource_for(user_ids)

        def create() -> dict[str, Any]:
            return graph.create_subscription(
                resource=resource, change_type="updated", notification_url=notification_url,
                expiration=iso(now + LIFETIME), client_state=client_state,
                lifecycle_url=lifecycle_url, certificate=certificate)

        try:
            answer = create()
        except GraphError as exc:
            if exc.status != 409:
                raise
            _delete_strays(graph, owner)  # ours from before the state was lost
            answer = create()
        store.save({"id": answer["id"], "resource": resource, "change_type": "updated",
                    "user_ids": user_ids, "client_state": store.box.seal(client_state),
                    "expires_at": answer.get("expirationDateTime", iso(now + LIFETIME)),
                    "authorized_at": iso(now)})
        return user_ids, True
    expires = dt.datetime.fromisoformat(str(record["expires_at"]).replace("Z", "+00:00"))
    if renew and recently_authorized(record, now):
        renew = False  # answered less than 10 minutes ago: a second request is not wanted
    if expires - now >= RENEW_WHEN_LEFT and not renew:
        return user_ids, False
    try:
        answer = graph.renew_subscription(record["id"], iso(now + LIFETIME))
    except GraphError as exc:
        if exc.status != 404:
            raise
        store.drop(record["id"])  # Graph let it lapse: make a new one
        return keep(graph, store, user_ids, notification_url=notification_url,
                    lifecycle_url=lifecycle_url, now=now, owner=owner, certificate=certificate)
    store.save(record | {"expires_at": answer.get("expirationDateTime", iso(now + LIFETIME)),
                         "authorized_at": iso(now)})
    return user_ids, True


def _delete_strays(graph: GraphClient, owner: str) -> None:
    """Delete the presence subscriptions `owner` made that we no longer know of: Graph allows
    one per account and app, so a lost one would block every new one (409)."""
    for sub in graph.subscriptions():
        if (str(sub.get("resource", "")).startswith("communications/presences")
                and sub.get("creatorId") in (owner, None)):
            graph.delete_subscription(sub["id"])


def revoke(graph: GraphClient | None, store: SubscriptionStore,
           authorization: PresenceAuthorization) -> str:
    """Delete the presence subscription and forget the admin's tokens; what became of it."""
    if current(store) is None:
        answer = "none"
    else:
        try:
            drop(graph, store)
            answer = "deleted at Graph" if graph is not None else \
                "forgotten; Graph removes it within the hour"
        except SyncError as exc:
            drop(None, store)
            answer = f"forgotten; Graph removes it within the hour ({exc})"
    authorization.forget()
    return answer


def drop(graph: GraphClient | None, store: SubscriptionStore) -> None:
    """Delete our presence subscription; without a delegated token it is only forgotten (Graph
    removes it within the hour)."""
    record = current(store)
    if record is None:
        return
    if graph is not None:
        try:
            graph.delete_subscription(record["id"])
        except GraphError as exc:
            if exc.status != 404:
                raise
    store.drop(record["id"])
