"""Which minimal Graph read proves each permission a part needs, and what a failure means.

Pure: no I/O. Each probe is the cheapest read that needs exactly one permission of
docs/setup.md, so that a 403 names that permission and nothing else. Reads of a mailbox
(`mailbox=True`) need a user that has one: `{user}` in the path is filled in by the runner,
which tries a few users, since a user without an Exchange mailbox answers 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import (
    ApiError,
    AuthError,
    ConfigError,
    GraphError,
    PbxError,
    SyncError,
    ThrottledError,
)

PARTS = ("users", "groups", "contacts", "presence")


@dataclass(frozen=True)
class Probe:
    """One read, the permission it needs, and how to name it in a sentence."""

    permission: str
    what: str  # "list users": the read, as a problem names it
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    mailbox: bool = False  # `{user}` in the path: a user with a mailbox
    user: bool = False  # the body names one user (any user)


LIST_USERS = Probe("User.Read.All", "list users", "GET", "users",
                   (("$top", "1"), ("$select", "id")))
LIST_GROUPS = Probe("Group.Read.All", "list groups", "GET", "groups",
                    (("$top", "1"), ("$select", "id")))
READ_CONTACTS = Probe("Contacts.Read", "read a mailbox's contacts", "GET",
                      "users/{user}/contacts", (("$top", "1"), ("$select", "id")), mailbox=True)
READ_PURPOSE = Probe("MailboxSettings.Read", "read a mailbox's purpose (shared mailbox "
                     "discovery)", "GET", "users/{user}/mailboxSettings", mailbox=True)
READ_PRESENCE = Probe("Presence.Read.All", "read presence", "POST",
                      "communications/getPresencesByUserId", user=True)


def group_members(group_id: str, purpose: str) -> Probe:
    """The members of the first group of a range: Group.Read.All, and the group still exists."""
    return Probe("Group.Read.All", f"read the members of group {group_id} ({purpose})", "GET",
                 f"groups/{group_id}/members", (("$top", "1"), ("$select", "id")))


def probes_for(part: str, document: Mapping[str, Any]) -> list[Probe]:
    """The reads that prove `part` has every permission it uses, with these settings."""
    if part == "users":
        rules = document["users"]
        found = [LIST_USERS]
        if rules["range"] == "groups" and rules["group_ids"]:
            found.append(group_members(str(rules["group_ids"][0]), "the user range"))
        return found
    if part == "groups":
        return [LIST_GROUPS]
    if part == "presence":
        return [READ_PRESENCE]
    personal, shared = document["contacts"]["personal"], document["contacts"]["shared"]
    found = [LIST_USERS, READ_CONTACTS] if personal["enabled"] or shared["enabled"] else []
    if personal["enabled"] and personal["range"] == "groups" and personal["group_ids"]:
        found.append(group_members(str(personal["group_ids"][0]), "the personal contacts range"))
    if shared["enabled"] and shared["range"] == "all":
        found.append(READ_PURPOSE)
    return found


def sentence(part: str, probe: Probe, exc: SyncError) -> str:
    """One precise sentence for a failed probe; a 403 names the missing permission."""
    if isinstance(exc, GraphError) and exc.status == 403:
        return f"{part}: {probe.permission} not granted"
    if isinstance(exc, AuthError):
        return f"{part}: no Graph token ({exc})"
    if isinstance(exc, ConfigError):
        return f"{part}: {exc}"
    if isinstance(exc, ThrottledError):
        return (f"{part}: Graph answered {exc.status} (throttled or unavailable) to {probe.what}; "
                "it is checked again within the hour")
    if isinstance(exc, GraphError) and exc.status == 401:
        return f"{part}: Graph refused the app's token to {probe.what} ({exc.code}: {exc.message})"
    if isinstance(exc, GraphError) and exc.status == 404 and "/members" in probe.path:
        return f"{part}: {probe.what}: the group no longer exists in Entra ID"
    if isinstance(exc, GraphError):
        return f"{part}: {probe.what} failed: HTTP {exc.status} {exc.code}: {exc.message}"
    if isinstance(exc, ApiError):
        return f"{part}: {probe.what} failed: HTTP {exc.status}"
    return f"{part}: Graph did not answer {probe.what} ({exc})"


def no_mailbox(exc: SyncError) -> bool:
    """A 404 of a mailbox read: that user has no mailbox (or is gone); try another user."""
    return isinstance(exc, GraphError) and exc.status == 404


def pbx_sentence(exc: SyncError) -> str:
    """One precise sentence for a failed PBX check (a token, then one extension)."""
    if isinstance(exc, AuthError):
        return {
            "bad_secret": "pbx: the PBX refused the API credentials (PBX_CLIENT_ID, "
                          f"PBX_CLIENT_SECRET) ({exc})",
            "ip_blocked": "pbx: the PBX blocked this server's IP after failed logins: remove it "
                          "under Security > Security Rules > Blocked IPs",
            "ip_forbidden": "pbx: this server's IP is not allowed by the PBX's API IP "
                            "restriction",
            "token_limit": "pbx: the API client already holds the PBX's limit of 8 tokens",
        }.get(exc.reason, f"pbx: no PBX token ({exc})")
    if isinstance(exc, ConfigError):
        return f"pbx: {exc}"
    if isinstance(exc, ThrottledError):
        return f"pbx: the PBX answered {exc.status} (busy or unavailable) to the extension list"
    if isinstance(exc, PbxError):
        return f"pbx: the extension list was refused: errcode {exc.errcode} {exc.errmsg}".rstrip()
    if isinstance(exc, ApiError):
        return f"pbx: the extension list failed: HTTP {exc.status}"
    return f"pbx: the PBX did not answer ({exc})"
