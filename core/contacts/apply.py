"""`apply_contacts`: the only code that writes phonebooks and company contacts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Protocol

from core.contacts.records import (
    BookLink,
    ContactLink,
    ContactOperation,
    CreateBook,
    CreateContact,
    DeleteBook,
    DeleteContact,
    RenameBook,
    SkipContact,
    UpdateContact,
)
from core.engine.outcome import Outcome
from core.errors import (
    PbxError,
    PbxLimitError,
    PbxNotFoundError,
    SyncError,
)
from core.pbx.client import PbxClient

_CONTACT_ORDER = {DeleteContact: 0, DeleteBook: 1, CreateBook: 2, RenameBook: 3,
                  UpdateContact: 4, CreateContact: 5, SkipContact: 6}


class ContactBook(Protocol):
    def book_links(self) -> dict[str, BookLink]: ...
    def put_book_link(self, link: BookLink) -> None: ...
    def drop_book_link(self, key: str) -> None: ...
    def put_contact_link(self, link: ContactLink) -> None: ...
    def drop_contact_link(self, key: str) -> None: ...


def apply_contacts(ops: Iterable[ContactOperation], pbx: PbxClient, book: ContactBook, *,
                   before: Callable[[ContactOperation], None] | None = None) -> Outcome:
    """Carry out phonebook and company-contact operations, deletions first.

    A contact still in a phonebook cannot be deleted (70091), so it leaves its phonebooks first.
    """
    outcome = Outcome()
    full = False
    for op in sorted(ops, key=lambda o: _CONTACT_ORDER[type(o)]):
        if before:
            before(op)  # may raise LockLost: the run stops before this write
        try:
            _one_contact(op, pbx, book, outcome)
        except PbxLimitError:
            full = True
            outcome.skip(op, PHONEBOOKS_FULL)
        except _NoPhonebook:
            if full:
                outcome.skip(op, PHONEBOOKS_FULL)
            else:
                outcome.fail(op, "its phonebook could not be created")
        except SyncError as exc:
            outcome.fail(op, str(exc))
    return outcome


PHONEBOOKS_FULL = ("the PBX has no room for more phonebooks (200, or 500 from 1,000 "
                   "extensions)")


class _NoPhonebook(SyncError):
    """The phonebook a contact belongs in does not exist: its creation failed."""


def _one_contact(op: ContactOperation, pbx: PbxClient, book: ContactBook,
                 outcome: Outcome) -> None:
    if isinstance(op, DeleteContact):
        with contextlib.suppress(PbxNotFoundError):
            pbx.update_company_contact(op.pbx_id, {"phonebook_id_list": []})
            pbx.delete_company_contact(op.pbx_id)
        book.drop_contact_link(op.key)
        outcome.counts["deleted"] += 1
    elif isinstance(op, DeleteBook):
        try:
            pbx.delete_phonebook(op.pbx_id)
        except PbxError as exc:
            if exc.errcode not in (60001, 70093):  # anything but "already gone"
                raise
        book.drop_book_link(op.key)
    elif isinstance(op, CreateBook):
        book.put_book_link(BookLink(op.key, pbx.create_phonebook(op.name), op.name))
    elif isinstance(op, RenameBook):
        pbx.rename_phonebook(op.pbx_id, op.name)
        book.put_book_link(BookLink(op.key, op.pbx_id, op.name))
    elif isinstance(op, CreateContact | UpdateContact):
        phonebook = book.book_links().get(op.book_key)
        if phonebook is None:
            raise _NoPhonebook(op.book_key)
        fields = dict(op.fields) | {"phonebook_id_list": [phonebook.pbx_id]}
        if isinstance(op, CreateContact):
            pbx_id = pbx.create_company_contact(fields)
            outcome.counts["created"] += 1
        else:
            pbx.update_company_contact(op.pbx_id, fields)
            pbx_id = op.pbx_id
            outcome.counts["updated"] += 1
        book.put_contact_link(ContactLink(op.key, pbx_id, op.book_key))
    else:
        outcome.skip(op, op.reason)
