"""Outlook contacts (O1-O4) as a part of the engine: contacts → phonebooks on the PBX.

Each run reads the default Contacts folder of every mailbox in range, the PBX's phonebooks
and company contacts, plans, and applies. A mailbox that cannot be read ends the run before
anything is deleted; a user without a mailbox simply has no contacts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.contacts.apply import apply_contacts
from core.contacts.mailboxes import mailboxes_in_range, no_mailbox
from core.contacts.plan import plan_contacts, wanted_contact
from core.contacts.records import (
    ContactOperation,
    CreateBook,
    CreateContact,
    DeleteBook,
    DeleteContact,
    RenameBook,
    SkipContact,
    UpdateContact,
    WantedBook,
    WantedContact,
)
from core.engine.engine import Context
from core.engine.outcome import Outcome
from core.errors import ApiError, GraphError
from core.graph.client import GraphClient
from core.graph.records import EntraContact
from core.store.redis import StateStore
from core.sync_settings import pbx_concurrency

KINDS = {CreateContact: "created", UpdateContact: "updated", DeleteContact: "deleted",
         SkipContact: "skipped"}
DELETIONS = {DeleteContact: "contact", DeleteBook: "phonebook"}


def _book(key: str, name: str, mailbox_id: str,
          contacts: list[EntraContact]) -> WantedBook | None:
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


def read_books(graph: GraphClient, state: StateStore, rules: dict[str, Any]
               ) -> tuple[list[WantedBook], list[tuple[str, str]], dict[str, tuple[str, str]]]:
    """The phonebooks that should exist, the mailboxes that could not be used, and the
    phonebooks whose mailbox could not be read this time (key → (mailbox, why)).

    The mailboxes are read together, 20 a batch, each to its last page. One mailbox Graph
    refuses or fails holds its own phonebook and lets the rest sync; an error that is not about
    one mailbox (no token, Graph unreachable, the batch refused) fails the whole read.
    """
    problems: list[tuple[str, str]] = []
    unread: dict[str, tuple[str, str]] = {}
    books = []
    mailboxes = mailboxes_in_range(graph, state, rules, problems, probe=False)
    found = graph.contacts_of(mailbox_id for _, _, mailbox_id in mailboxes)
    for key, name, mailbox_id in mailboxes:
        contacts = found[mailbox_id]
        if isinstance(contacts, GraphError) and no_mailbox(contacts):
            continue  # no Exchange Online mailbox (no licence, a guest): no contacts
        if isinstance(contacts, ApiError):
            unread[key] = (name, f"its mailbox could not be read, its phonebook was left as it "
                                 f"is: {contacts}")
            continue
        book = _book(key, name, mailbox_id, contacts)
        if book is not None:
            books.append(book)
    return books, problems, unread


@dataclass(frozen=True)
class Snapshot:
    books: tuple[WantedBook, ...]
    problems: tuple[tuple[str, str], ...]
    unread: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    pbx_books: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    pbx_contacts: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)


class ContactSync:
    """Personal and shared-mailbox contacts → phonebooks of company contacts."""

    name, kinds, deletions = "contacts", KINDS, DELETIONS
    # phonebooks are not counted, but each has its row in the run's per-object results
    object_kinds = KINDS | {CreateBook: "created", RenameBook: "updated", DeleteBook: "deleted"}

    def read(self, ctx: Context) -> Snapshot:
        books, problems, unread = read_books(ctx.graph, ctx.store, ctx.document["contacts"])
        return Snapshot(tuple(books), tuple(problems), unread,
                        {int(b["id"]): b for b in ctx.pbx.phonebooks()},
                        {int(c["id"]): c for c in ctx.pbx.company_contacts()})

    def plan(self, snapshot: Snapshot, ctx: Context) -> tuple[ContactOperation, ...]:
        return plan_contacts(snapshot.books, snapshot.pbx_books, snapshot.pbx_contacts,
                             ctx.store.book_links(), ctx.store.contact_links(),
                             unread=frozenset(snapshot.unread))

    def apply(self, ops: Sequence[ContactOperation], ctx: Context) -> Outcome:
        return apply_contacts(ops, ctx.pbx, ctx.store, before=lambda _op: ctx.fence(),
                              width=pbx_concurrency(ctx.document))

    def finish(self, snapshot: Snapshot, outcome: Outcome, held: bool, ctx: Context) -> int:
        outcome.skipped += [{"mailbox": m, "name": m, "reason": r} for m, r in snapshot.problems]
        outcome.counts["skipped"] += len(snapshot.problems)
        for key, (name, reason) in sorted(snapshot.unread.items()):  # the run ends partial
            outcome.failures.append({"contact": key, "name": name, "operation": "read",
                                     "reason": reason})
            outcome.counts["failed"] += 1
        return len(ctx.store.contact_links())
