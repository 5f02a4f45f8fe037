"""A contact sync run (O1-O4): Outlook contacts of synced users and of shared mailboxes.

Each run reads the default Contacts folder of every mailbox in range, the PBX's phonebooks
and company contacts, plans, and applies. A mailbox that cannot be read ends the run before
anything is deleted; a user without a mailbox simply has no contacts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from core.contacts.apply import apply_contacts
from core.contacts.plan import plan_contacts, wanted_contact
from core.contacts.records import (
    CreateContact,
    DeleteContact,
    SkipContact,
    UpdateContact,
    WantedBook,
    WantedContact,
)
from core.engine import runs
from core.errors import GraphError, SyncError
from core.graph.client import GraphClient
from core.graph.records import EntraUser
from core.pbx.client import PbxClient
from core.store.redis import StateStore

_PLANNED = {CreateContact: "created", UpdateContact: "updated", DeleteContact: "deleted",
            SkipContact: "skipped"}
NO_MAILBOX = ("MailboxNotEnabledForRESTAPI", "ErrorInvalidUser", "ResourceNotFound")


def _book(key: str, name: str, mailbox_id: str, graph: GraphClient) -> WantedBook | None:
    try:
        contacts = list(graph.contacts(mailbox_id))
    except GraphError as exc:
        if exc.status == 404 and exc.code in NO_MAILBOX:
            return None  # no mailbox: no contacts
        raise
    wanted: list[WantedContact] = []
    skipped: list[tuple[str, str]] = []
    for contact in contacts:
        result = wanted_contact(mailbox_id, contact)
        if isinstance(result, SkipContact):
            skipped.append((result.label, result.reason))
        else:
            wanted.append(result)
    if not wanted and not skipped:
        return None
    return WantedBook(key, name[:127], tuple(sorted(wanted, key=lambda c: c.key)),
                      tuple(skipped))


def mailboxes_in_range(graph: GraphClient, state: StateStore, rules: dict[str, Any],
                       problems: list[tuple[str, str]] | None = None) -> list[tuple[str, str, str]]:
    """(phonebook key, phonebook name, mailbox id) of every mailbox whose contacts are synced."""
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
                  for uid in sorted(scope)]
    if shared["enabled"]:
        mapped = {m["mailbox"].lower(): m["phonebook"] for m in shared["mailboxes"]}
        found += [(f"mailbox:{mid}", name, mid)
                  for mid, name in _shared_mailboxes(graph, shared, mapped, problems)]
    return found


def read_books(graph: GraphClient, state: StateStore,
               rules: dict[str, Any]) -> tuple[list[WantedBook], list[tuple[str, str]]]:
    """The phonebooks that should exist, and the mailboxes that could not be used."""
    problems: list[tuple[str, str]] = []
    books = [book for key, name, mailbox_id in mailboxes_in_range(graph, state, rules, problems)
             if (book := _book(key, name, mailbox_id, graph)) is not None]
    return books, problems


def _shared_mailboxes(graph: GraphClient, shared: dict[str, Any], mapped: dict[str, str],
                      problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(mailbox id, phonebook name) of the shared mailboxes in range (O2)."""
    found = []
    if shared["range"] == "mailboxes":
        for address, phonebook in mapped.items():
            try:
                body = graph.request("GET", f"users/{address}", params={"$select": "id,mail"})
            except GraphError as exc:
                if exc.status != 404:
                    raise
                problems.append((address, "no such mailbox in the tenant"))
                continue
            found.append((str(body["id"]), phonebook))
        return found
    return [(mailbox.id, mapped.get(str(mailbox.mail).lower(), mailbox.display_name or
                                    str(mailbox.mail)))
            for mailbox in shared_mailboxes(graph)]


def shared_mailboxes(graph: GraphClient) -> list[EntraUser]:
    """Every shared mailbox of the tenant: an account without sign-in whose mailbox purpose is
    `shared` (one mailboxSettings read per account without sign-in)."""
    found = []
    for user in graph.users(filter="accountEnabled eq false",
                            select=("id", "displayName", "mail", "userPrincipalName")):
        if not user.mail:
            continue
        try:
            purpose = graph.mailbox_purpose(user.id)
        except GraphError as exc:
            if exc.status == 404:
                continue
            raise
        if purpose == "shared":
            found.append(user)
    return found


def sync_contacts(*, graph: GraphClient, pbx: PbxClient, state: StateStore, run: dict[str, Any],
                  now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
                  ) -> dict[str, Any]:
    """Run one contact sync and return its record (also saved in `state`)."""
    rules = state.settings()["contacts"]
    runs.start(state, run, now)
    try:
        books, problems = read_books(graph, state, rules)
        pbx_books = {int(b["id"]): b for b in pbx.phonebooks()}
        pbx_contacts = {int(c["id"]): c for c in pbx.company_contacts()}
    except SyncError as exc:
        run["retry_after"] = getattr(exc, "retry_after", None)
        return runs.finish(state, run, now, "failed",
                           error=f"a read failed, nothing was changed: {exc}")
    ops = plan_contacts(tuple(books), pbx_books, pbx_contacts, state.book_links(),
                        state.contact_links())
    if run["dry_run"]:
        run["counts"] |= runs.planned_counts(ops, _PLANNED)
        return runs.finish(state, run, now, "succeeded")
    outcome = apply_contacts(ops, pbx, state)
    runs.record(run, outcome)
    run["skipped"] += [{"mailbox": m, "name": m, "reason": r} for m, r in problems]
    run["counts"]["skipped"] += len(problems)
    run["synced"] = len(state.contact_links())
    return runs.finish(state, run, now, "succeeded")
