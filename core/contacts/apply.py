"""`apply_contacts`: the only code that writes phonebooks and company contacts."""

from __future__ import annotations

import logging
import threading
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
from core.pbx.concurrency import DEFAULT_WIDTH, AdaptiveLimit, in_phases, run_bounded

log = logging.getLogger("pbx")
_CONTACT_ORDER = {DeleteContact: 0, DeleteBook: 1, CreateBook: 2, RenameBook: 3,
                  UpdateContact: 4, CreateContact: 5, SkipContact: 6}


class ContactBook(Protocol):
    def book_links(self) -> dict[str, BookLink]: ...
    def contact_links(self) -> dict[str, ContactLink]: ...
    def put_book_link(self, link: BookLink) -> None: ...
    def drop_book_link(self, key: str) -> None: ...
    def put_contact_link(self, link: ContactLink) -> None: ...
    def drop_contact_link(self, key: str) -> None: ...


def apply_contacts(ops: Iterable[ContactOperation], pbx: PbxClient, book: ContactBook, *,
                   before: Callable[[ContactOperation], None] | None = None,
                   width: int = DEFAULT_WIDTH) -> Outcome:
    """Carry out phonebook and company-contact operations, deletions first, up to `width` at
    once; each kind is done before the next starts (phonebooks exist before their contacts).

    A contact still in a phonebook cannot be deleted (70091): it leaves its synced phonebook
    first, through Edit a Phonebook's `del_contacts_id_list`, the one documented removal.
    """
    ops = sorted(ops, key=lambda o: _CONTACT_ORDER[type(o)])
    outcome = Outcome()
    limit = AdaptiveLimit(width)
    lock = threading.Lock()
    full = [False]  # the PBX refused a phonebook: it holds no more
    leaving = _Leaving(ops, book)

    def one(op: ContactOperation) -> Outcome:
        done = Outcome()
        with lock:
            if before:
                before(op)  # may raise LockLost: the run stops before this write
        try:
            _one_contact(op, pbx, book, done, leaving)
        except PbxLimitError:
            with lock:
                full[0] = True
            done.skip(op, PHONEBOOKS_FULL)
        except _NoPhonebook:
            if full[0]:
                done.skip(op, PHONEBOOKS_FULL)
            else:
                done.fail(op, "its phonebook could not be created")
        except SyncError as exc:
            done.fail(op, str(exc))
        return done

    for phase in in_phases(ops, lambda o: _CONTACT_ORDER[type(o)]):
        for done in run_bounded(phase, one, limit):
            outcome.merge(done)
    outcome.concurrency = limit.record()
    log.info("contacts: applied at PBX concurrency %s", outcome.concurrency)
    return outcome


PHONEBOOKS_FULL = ("the PBX has no room for more phonebooks (200, or 500 from 1,000 "
                   "extensions)")


STILL_LISTED = ("still in a phonebook the sync does not manage (70091 "
                "CONNECTION_RELATION_EXISTED): take it out of that phonebook, and the next run "
                "deletes it")
REMOVAL_CHUNK = 500


class _NoPhonebook(SyncError):
    """The phonebook a contact belongs in does not exist: its creation failed."""


class _Leaving:
    """Contacts leave their synced phonebook: one `phonebook/update` per phonebook and run.

    Edit a Company Contact does not say that its `phonebook_id_list` replaces the contact's
    phonebooks, so it is only ever used to put a contact in one.
    """

    def __init__(self, ops: list[ContactOperation], book: ContactBook) -> None:
        self.links = book.contact_links()
        books = book.book_links()
        self.phonebook_of: dict[int, int] = {}  # contact to delete -> its synced phonebook
        for op in ops:
            link = self.links.get(op.key) if isinstance(op, DeleteContact) else None
            if link is not None and link.book_key in books:
                self.phonebook_of[op.pbx_id] = books[link.book_key].pbx_id
        self.left: set[int] = set()
        # One lock a phonebook: its other deletions wait while one thread empties it.
        self._locks = {p: threading.Lock() for p in set(self.phonebook_of.values())}

    def before_delete(self, pbx: PbxClient, contact_id: int) -> None:
        phonebook = self.phonebook_of.get(contact_id)
        if phonebook is None:
            return
        with self._locks[phonebook]:
            if phonebook in self.left:
                return
            members = sorted(c for c, p in self.phonebook_of.items() if p == phonebook)
            for start in range(0, len(members), REMOVAL_CHUNK):
                _leave(pbx, phonebook, members[start : start + REMOVAL_CHUNK])
            self.left.add(phonebook)

    def moved_from(self, op: UpdateContact, book: ContactBook) -> int | None:
        """The synced phonebook a contact was in, when it now belongs in another one."""
        link = self.links.get(op.key)
        if link is None or link.book_key == op.book_key:
            return None
        old = book.book_links().get(link.book_key)
        return old.pbx_id if old is not None else None


def _leave(pbx: PbxClient, phonebook_id: int, contact_ids: list[int]) -> None:
    try:
        pbx.update_phonebook(phonebook_id, remove=contact_ids)
    except PbxError as exc:
        if exc.errcode not in (60001, 70093):  # the phonebook is gone: nothing to leave
            raise


def _one_contact(op: ContactOperation, pbx: PbxClient, book: ContactBook,
                 outcome: Outcome, leaving: _Leaving) -> None:
    if isinstance(op, DeleteContact):
        leaving.before_delete(pbx, op.pbx_id)
        try:
            pbx.delete_company_contact(op.pbx_id)
        except PbxNotFoundError:
            pass  # already gone: the goal is reached
        except PbxError as exc:
            if exc.errcode == 70091:
                raise SyncError(STILL_LISTED) from None  # the link stays: the next run retries
            raise
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
            old = leaving.moved_from(op, book)
            if old is not None and old != phonebook.pbx_id:
                _leave(pbx, old, [pbx_id])
            outcome.counts["updated"] += 1
        book.put_contact_link(ContactLink(op.key, pbx_id, op.book_key))
    else:
        outcome.skip(op, op.reason)
