"""Which mailboxes' contacts are synced: synced users' (O1) and shared mailboxes (O2).

A user without an Exchange Online mailbox (no licence, a guest, a mailbox on premises) has no
contacts: Outlook answers 404 `MailboxNotEnabledForRESTAPI` for it, and Graph refuses a
subscription to its contacts. Those users are left out of what is watched, and a shared
mailbox named by address that has none is reported.
"""

from __future__ import annotations

from typing import Any

from core.errors import GraphError
from core.graph.client import GraphClient
from core.graph.records import EntraUser
from core.store.redis import StateStore

# Outlook's answers (404) for a mailbox that is not there; ErrorInvalidUser and
# ResourceNotFound when the user itself is gone.
NO_MAILBOX = ("MailboxNotEnabledForRESTAPI", "MailboxNotSupportedForRESTAPI", "ErrorInvalidUser",
              "ResourceNotFound")


def no_mailbox(exc: GraphError) -> bool:
    """Whether Graph's error says the mailbox does not exist (rather than a failure)."""
    return exc.status == 404 and exc.code in NO_MAILBOX


def has_mailbox(graph: GraphClient, user_id: str) -> bool:
    """Whether the user has an Exchange Online mailbox: one read of at most one contact, with
    the permission the contacts need anyway (Contacts.Read)."""
    try:
        graph.request("GET", f"users/{user_id}/contacts", params={"$top": "1", "$select": "id"})
    except GraphError as exc:
        if no_mailbox(exc):
            return False
        raise
    return True


def mailboxes_in_range(graph: GraphClient, state: StateStore, rules: dict[str, Any],
                       problems: list[tuple[str, str]] | None = None, *,
                       probe: bool = True) -> list[tuple[str, str, str]]:
    """(phonebook key, phonebook name, mailbox id) of every mailbox whose contacts are synced.

    With `probe`, synced users without a mailbox are left out (one read each): what the
    subscriptions watch. A contacts run reads every mailbox anyway and passes `probe=False`.
    """
    found = []
    problems = problems if problems is not None else []
    personal, shared = rules["personal"], rules["shared"]
    if personal["enabled"]:
        links = state.user_links()
        scope = set(links)
        if personal["range"] == "groups":
            members: set[str] = set()
            for group_id in personal["group_ids"]:
                members.update(graph.group_user_ids(group_id, transitive=True))
            scope &= members
        found += [(f"user:{uid}", f"{links[uid].label} ({links[uid].number})", uid)
                  for uid in sorted(scope) if not probe or has_mailbox(graph, uid)]
    if shared["enabled"]:
        mapped = {m["mailbox"].lower(): m["phonebook"] for m in shared["mailboxes"]}
        found += [(f"mailbox:{mid}", name, mid)
                  for mid, name in _shared_mailboxes(graph, shared, mapped, problems)]
    return found


def _shared_mailboxes(graph: GraphClient, shared: dict[str, Any], mapped: dict[str, str],
                      problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(mailbox id, phonebook name) of the shared mailboxes in range (O2)."""
    found = []
    if shared["range"] == "mailboxes":
        for address, phonebook in mapped.items():
            body = _user_by_address(graph, address)
            if body is None:
                problems.append((address, "no such mailbox in the tenant"))
                continue
            if not has_mailbox(graph, str(body["id"])):
                problems.append((address, "has no Exchange Online mailbox"))
                continue
            found.append((str(body["id"]), phonebook))
        return found
    return [(mailbox.id, mapped.get(str(mailbox.mail).lower(), mailbox.display_name or
                                    str(mailbox.mail)))
            for mailbox in shared_mailboxes(graph)]


def shared_mailboxes(graph: GraphClient) -> list[EntraUser]:
    """Every shared mailbox of the tenant: an account without sign-in whose mailbox purpose is
    `shared` (one mailboxSettings read per account without sign-in, which needs
    MailboxSettings.Read; an account without a mailbox answers 404 and is no shared mailbox)."""
    found = []
    for user in graph.users(filter="accountEnabled eq false",
                            select=("id", "displayName", "mail", "userPrincipalName")):
        if not user.mail:
            continue
        try:
            purpose = graph.mailbox_purpose(user.id)
        except GraphError as exc:
            if no_mailbox(exc):
                continue
            raise
        if purpose == "shared":
            found.append(user)
    return found


def _user_by_address(graph: GraphClient, address: str) -> dict[str, Any] | None:
    """The account of a mailbox address: `users/{upn}` answers only for a user principal name
    ("Get user": id or userPrincipalName), so an address that differs from it is looked up by
    `mail`."""
    try:
        return dict(graph.request("GET", f"users/{address}", params={"$select": "id,mail"}))
    except GraphError as exc:
        if exc.status != 404:
            raise
    quoted = address.replace("'", "''")  # OData string literal
    found = graph.request("GET", "users", params={"$filter": f"mail eq '{quoted}'",
                                                  "$select": "id,mail"}).get("value") or []
    return dict(found[0]) if found else None
