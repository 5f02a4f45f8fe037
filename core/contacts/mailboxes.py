"""Which mailboxes' contacts are synced: synced users' (O1) and shared mailboxes (O2).

A user without an Exchange Online mailbox (no licence, a guest, a mailbox on premises) has no
contacts: Outlook answers 404 `MailboxNotEnabledForRESTAPI` for it, and Graph refuses a
subscription to its contacts. Those users are left out of what is watched, and a shared
mailbox named by address that has none is reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from core.errors import ApiError, GraphError
from core.graph.batch import Read
from core.graph.client import GraphClient
from core.graph.records import EntraUser
from core.graph.session import query
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
    return with_mailbox(graph, [user_id]) == [user_id]


def with_mailbox(graph: GraphClient, user_ids: Iterable[str]) -> list[str]:
    """Those of `user_ids` that have an Exchange Online mailbox (`has_mailbox` of many, 20 a
    batch); raises on an error that is not Outlook's "no mailbox here"."""
    ids = list(dict.fromkeys(user_ids))
    results = graph.read_many([Read(uid, f"/users/{quote(uid, safe='@')}/contacts?"
                                    "$top=1&$select=id", whole=False) for uid in ids])
    found = []
    for uid in ids:
        error = results[uid].error
        if error is None:
            found.append(uid)
        elif not (isinstance(error, GraphError) and no_mailbox(error)):
            raise error
    return found


def mailboxes_in_range(graph: GraphClient, state: StateStore, rules: dict[str, Any],
                       problems: list[tuple[str, str]] | None = None, *,
                       probe: bool = True) -> list[tuple[str, str, str]]:
    """(phonebook key, phonebook name, mailbox id) of every mailbox whose contacts are synced.

    With `probe`, synced users without a mailbox are left out (one read each, batched): what
    the subscriptions watch. A contacts run reads every mailbox anyway and passes `probe=False`.
    """
    found = []
    problems = problems if problems is not None else []
    personal, shared = rules["personal"], rules["shared"]
    if personal["enabled"]:
        links = state.user_links()
        scope = set(links)
        if personal["range"] == "groups":
            members = graph.members_of(personal["group_ids"], transitive=True)
            scope &= {uid for ids in members.values() for uid in ids}
        chosen = sorted(scope)
        if probe:
            chosen = with_mailbox(graph, chosen)
        found += [(f"user:{uid}", f"{links[uid].label} ({links[uid].number})", uid)
                  for uid in chosen]
    if shared["enabled"]:
        mapped = {m["mailbox"].lower(): m["phonebook"] for m in shared["mailboxes"]}
        found += [(f"mailbox:{mid}", name, mid)
                  for mid, name in _shared_mailboxes(graph, shared, mapped, problems)]
    return found


def _shared_mailboxes(graph: GraphClient, shared: dict[str, Any], mapped: dict[str, str],
                      problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(mailbox id, phonebook name) of the shared mailboxes in range (O2)."""
    if shared["range"] == "mailboxes":
        accounts = _users_by_address(graph, list(mapped))
        boxes = set(with_mailbox(graph, [str(a["id"]) for a in accounts.values()]))
        found = []
        for address, phonebook in mapped.items():
            account = accounts.get(address)
            if account is None:
                problems.append((address, "no such mailbox in the tenant"))
            elif str(account["id"]) not in boxes:
                problems.append((address, "has no Exchange Online mailbox"))
            else:
                found.append((str(account["id"]), phonebook))
        return found
    return [(mailbox.id, mapped.get(str(mailbox.mail).lower(), mailbox.display_name or
                                    str(mailbox.mail)))
            for mailbox in shared_mailboxes(graph)]


def shared_mailboxes(graph: GraphClient) -> list[EntraUser]:
    """Every shared mailbox of the tenant: an account without sign-in whose mailbox purpose is
    `shared` (one mailboxSettings read per account without sign-in, 20 a batch, which needs
    MailboxSettings.Read; an account without a mailbox answers 404 and is no shared mailbox)."""
    accounts = [user for user in graph.users(filter="accountEnabled eq false",
                                             select=("id", "displayName", "mail",
                                                     "userPrincipalName")) if user.mail]
    purposes = graph.mailbox_purposes(user.id for user in accounts)
    found = []
    for user in accounts:
        purpose = purposes[user.id]
        if isinstance(purpose, GraphError) and no_mailbox(purpose):
            continue
        if isinstance(purpose, ApiError):
            raise purpose
        if purpose == "shared":
            found.append(user)
    return found


def _users_by_address(graph: GraphClient, addresses: list[str]) -> dict[str, dict[str, Any]]:
    """The account of each mailbox address that has one. `users/{upn}` answers only for a user
    principal name ("Get user": id or userPrincipalName), so an address that differs from it is
    looked up by `mail`; both rounds are batched."""
    direct = graph.read_many([Read(a, f"/users/{quote(a, safe='@')}?$select=id,mail",
                                   whole=False) for a in addresses])
    found = {}
    for address, result in direct.items():
        if result.error is None:
            found[address] = result.body()
        elif result.error.status != 404:
            raise result.error
    rest = [a for a in addresses if a not in found]
    by_mail = graph.read_many([Read(a, "/users?" + query({
        "$filter": "mail eq '" + a.replace("'", "''") + "'",  # OData string literal
        "$select": "id,mail"}), whole=False) for a in rest])
    for address in rest:
        value = by_mail[address].values()
        if value:
            found[address] = dict(value[0])
    return found
