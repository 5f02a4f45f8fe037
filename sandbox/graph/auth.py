"""The Entra side: OpenID discovery, the token endpoint, and bearer checks on Graph calls.

A client-credentials token carries the application permissions granted to the app when it was
issued (`Application.roles`: by default exactly those docs/setup.md asks for). Each Graph call
names the permissions its Microsoft Learn page accepts, and answers 403 with that service's
body when the token holds none of them.

One relaxation, for the sandbox's own scripted changes (tests, `make demo`): while
`Application.admin_writes` is on, the app's token may also make the writes an administrator
would make (the calls that need a `ReadWrite` permission). Those grants never satisfy a read,
so every call the product makes is checked against the granted permissions alone.
"""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

from flask import Blueprint, Response, current_app, jsonify, request

from sandbox.graph.odata import GraphFailure
from sandbox.graph.store import GraphStore

TOKEN_LIFETIME = 3599
blueprint = Blueprint("entra", __name__)


def store_of() -> GraphStore:
    return current_app.extensions["graph_store"]


def oauth_error(status: int, error: str, code: int, description: str) -> tuple[Response, int]:
    return jsonify(error=error, error_description=f"AADSTS{code}: {description}",
                   error_codes=[code], timestamp=store_of().now_iso()), status


def _tenant_missing(tenant: str) -> tuple[Response, int]:
    return oauth_error(400, "invalid_tenant", 90002,
                        f"Tenant '{tenant}' not found. Check to make sure you have the correct "
                        "tenant ID and are signing into the correct cloud.")


@blueprint.get("/<tenant>/v2.0/.well-known/openid-configuration")
def discovery(tenant: str) -> tuple[Response, int] | Response:
    store = store_of()
    if tenant not in (store.tenant_id, store.domain, "organizations", "common"):
        return _tenant_missing(tenant)
    base = request.host_url.rstrip("/")
    return jsonify(
        issuer=f"{base}/{store.tenant_id}/v2.0",
        authorization_endpoint=f"{base}/{tenant}/oauth2/v2.0/authorize",
        token_endpoint=f"{base}/{tenant}/oauth2/v2.0/token",
        jwks_uri=f"{base}/{tenant}/discovery/v2.0/keys",
        response_modes_supported=["query", "fragment", "form_post"],
        response_types_supported=["code", "id_token", "code id_token", "id_token token"],
        subject_types_supported=["pairwise"],
        id_token_signing_alg_values_supported=["RS256"],
        scopes_supported=["openid", "profile", "email", "offline_access"],
        token_endpoint_auth_methods_supported=["client_secret_post", "client_secret_basic"],
        tenant_region_scope="EU",
    )


@blueprint.post("/<tenant>/oauth2/v2.0/token")
def token(tenant: str) -> tuple[Response, int] | Response:
    store = store_of()
    form = request.form
    if tenant not in (store.tenant_id, store.domain):
        return _tenant_missing(tenant)
    if form.get("grant_type") not in ("client_credentials", "authorization_code",
                                      "refresh_token"):
        return oauth_error(400, "unsupported_grant_type", 70003,
                           "The app requested an unsupported grant type.")
    client_id = form.get("client_id", "")
    secret = form.get("client_secret", "")
    if request.authorization and request.authorization.type == "basic":
        client_id = request.authorization.username or client_id
        secret = request.authorization.password or secret
    if client_id != store.app.client_id:
        return oauth_error(400, "unauthorized_client", 700016,
                            f"Application with identifier '{client_id}' was not found in the "
                            f"directory '{tenant}'.")
    if not secrets.compare_digest(secret, store.app.client_secret):
        return oauth_error(401, "invalid_client", 7000215,
                            "Invalid client secret provided. Ensure the secret being sent in the "
                            f"request is the client secret value, not the client secret ID, for a "
                            f"secret added to app '{client_id}'.")
    now = store.clock.time()
    if store.app.secret_expires is not None and store.app.secret_expires <= now:
        return oauth_error(401, "invalid_client", 7000222,
                            f"The provided client secret keys for app '{client_id}' are expired.")
    if form.get("grant_type") != "client_credentials":
        from sandbox.graph.signin import grant

        return grant(store, form, tenant)
    scope = form.get("scope", "")
    if not any(s.endswith("/.default") for s in scope.split()):
        return oauth_error(400, "invalid_scope", 1002012,
                            f"The provided value for scope {scope} is not valid. Client "
                            "credential flows must have a scope value with /.default suffixed.")
    access_token = secrets.token_urlsafe(48)
    with store.lock:
        store.tokens[access_token] = {"kind": "app", "client_id": client_id,
                                      "roles": set(store.app.roles),
                                      "admin_writes": store.app.admin_writes,
                                      "expires": now + TOKEN_LIFETIME}
    return jsonify(token_type="Bearer", expires_in=TOKEN_LIFETIME, ext_expires_in=TOKEN_LIFETIME,
                   access_token=access_token)


class Denial(NamedTuple):
    """The 403 one service answers to a token without the permission a call needs."""

    code: str
    message: str


# Microsoft Graph error responses (https://learn.microsoft.com/en-us/graph/errors): Entra ID
# answers `Authorization_RequestDenied`; Exchange Online (contacts, mailbox settings) answers
# `ErrorAccessDenied` "Access is denied. Check credentials and try again." (as quoted in
# microsoftgraph/microsoft-graph-docs issue #3289 and OfficeDev/office-js issue #6057). The
# Teams presence service's body is not documented; it answers a bare status name.
DIRECTORY = Denial("Authorization_RequestDenied",
                   "Insufficient privileges to complete the operation.")
EXCHANGE = Denial("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
TEAMS = Denial("Forbidden", "Forbidden")


def authorize(*roles: str, denied: Denial = DIRECTORY) -> dict[str, Any]:
    """The caller's token, checked for expiry and for one of `roles`; raises 401 or 403."""
    store = store_of()
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        raise GraphFailure(401, "InvalidAuthenticationToken", "Access token is empty.")
    info = store.tokens.get(header[7:].strip())
    if info is None:
        raise GraphFailure(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
    if info["expires"] <= store.clock.time():
        raise GraphFailure(401, "InvalidAuthenticationToken",
                           "Lifetime validation failed, the token is expired.")
    if roles and not permitted(info, roles):
        raise GraphFailure(403, denied.code, denied.message)
    return info


def permitted(info: dict[str, Any], roles: tuple[str, ...]) -> bool:
    """Whether the token holds one of `roles`; an administrator's write (see above) when
    every one of `roles` is a write permission and the app may make them."""
    if info["roles"] & set(roles):
        return True
    return bool(info.get("admin_writes")) and all(r in WRITE_PERMISSIONS for r in roles)


# The permissions each page accepts, least privileged first. Only these pass: "Due to security
# restrictions, MS Graph Subscriptions will not be able to support write access permissions
# where only read access privileges are needed" (Create subscription), and a read needs a
# permission of its own page, never one of another service's (User.Read.All opens no mailbox).
# "List users", "Get user", "user: delta"
# (https://learn.microsoft.com/en-us/graph/api/user-delta?view=graph-rest-1.0#permissions).
USER_READ = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
             "Directory.ReadWrite.All")
USER_WRITE = ("User.ReadWrite.All", "Directory.ReadWrite.All")
# "List groups", "group: delta", "List group transitive members"
# (https://learn.microsoft.com/en-us/graph/api/group-delta?view=graph-rest-1.0#permissions).
GROUP_READ = ("Group.Read.All", "GroupMember.Read.All", "Group.ReadWrite.All",
              "Directory.Read.All", "Directory.ReadWrite.All")
GROUP_WRITE = ("Group.ReadWrite.All", "GroupMember.ReadWrite.All", "Directory.ReadWrite.All")
# "List contacts" (https://learn.microsoft.com/en-us/graph/api/user-list-contacts?view=graph-rest-1.0#permissions):
# application Contacts.Read, Contacts.ReadWrite.
CONTACTS_READ = ("Contacts.Read", "Contacts.ReadWrite")
CONTACTS_WRITE = ("Contacts.ReadWrite",)
# "Get user mailbox settings"
# (https://learn.microsoft.com/en-us/graph/api/user-get-mailboxsettings?view=graph-rest-1.0#permissions):
# application MailboxSettings.Read, MailboxSettings.ReadWrite, and nothing else.
MAILBOX_READ = ("MailboxSettings.Read", "MailboxSettings.ReadWrite")
# "cloudCommunications: getPresencesByUserId", "Get presence": Presence.Read.All.
PRESENCE_READ = ("Presence.Read.All", "Presence.ReadWrite.All")
PRESENCE_WRITE = ("Presence.ReadWrite.All",)
# "Create subscription"
# (https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions?view=graph-rest-1.0#permissions):
# "Creating a subscription requires read scope to the resource": user User.Read.All, group
# Group.Read.All (GroupMember.Read.All is not listed), contact Contacts.Read, presence
# Presence.Read.All (delegated only). Directory.Read.All reads users and groups too.
SUBSCRIBE = {"users": ("User.Read.All", "Directory.Read.All"),
             "groups": ("Group.Read.All", "Directory.Read.All"),
             "contacts": ("Contacts.Read",),
             "presence": ("Presence.Read.All",)}
WRITE_PERMISSIONS = frozenset({
    "User.ReadWrite.All", "Group.ReadWrite.All", "GroupMember.ReadWrite.All",
    "Directory.ReadWrite.All", "Contacts.ReadWrite", "MailboxSettings.ReadWrite",
    "Presence.ReadWrite.All"})
