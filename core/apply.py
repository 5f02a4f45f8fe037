"""`apply(ops, pbx, book)`: the only code that writes to the PBX.

Operations run in a safe order: releases and deletions first (they free numbers and emails),
then updates, adoptions and creations. Each link is written as soon as its PBX write
succeeds, and a create is marked pending before it is sent, so a run that dies half way
leaves nothing the next run cannot recognise. One object's failure is recorded and the rest
carry on; an unreachable PBX stops the run, with what was not attempted listed.
"""

from __future__ import annotations

import contextlib
import secrets
import string
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.contact_plan import (
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
from core.errors import (
    AuthError,
    PbxDuplicateError,
    PbxError,
    PbxLimitError,
    PbxNotFoundError,
    SyncError,
    TransportError,
)
from core.group_plan import (
    CreateGroup,
    DeleteGroup,
    GroupLink,
    GroupOperation,
    ReleaseGroup,
    SkipGroup,
    UpdateGroup,
)
from core.pbx import PbxClient
from core.plan import Adopt, Create, Delete, Link, Operation, Release, Skip, Update
from core.presence import PresenceUpdate

CAPACITY_REASON = "the PBX has no free extension capacity"
WELCOME_BATCH = 100
_ORDER = {Release: 0, Delete: 1, Update: 2, Adopt: 3, Create: 4, Skip: 5}


class PresenceBook(Protocol):
    def mark_presence_seen(self, user_id: str, availability: str) -> None: ...


class LinkBook(Protocol):
    def put_group_link(self, link: GroupLink) -> None: ...
    def drop_group_link(self, group_id: str) -> None: ...
    def put_link(self, link: Link) -> None: ...
    def drop_link(self, user_id: str) -> None: ...
    def mark_pending(self, user_id: str, number: str) -> None: ...
    def clear_pending(self, user_id: str) -> None: ...
    def mark_released(self, link: Link, reason: str, at: str) -> None: ...


@dataclass
class Outcome:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)
    unresolved: list[Create] = field(default_factory=list)  # created, id not known yet

    def fail(self, op: Any, reason: str) -> None:
        self.counts["failed"] += 1
        self.failures.append(_subject(op) | {"operation": type(op).__name__.lower(),
                                             "reason": reason})

    def skip(self, op: Any, reason: str) -> None:
        self.counts["skipped"] += 1
        self.skipped.append(_subject(op) | {"reason": reason})


def _subject(op: Any) -> dict[str, str]:
    """Who an operation is about: a user, a group or a contact, and its name."""
    if hasattr(op, "group_id"):
        return {"group_id": op.group_id, "name": op.name}
    if hasattr(op, "user_id"):
        return {"user_id": op.user_id, "name": op.label}
    return {"contact": op.key, "name": getattr(op, "label", getattr(op, "name", op.key))}


def ordered(ops: Iterable[Operation]) -> list[Operation]:
    return sorted(ops, key=lambda op: _ORDER[type(op)])


def apply(ops: Iterable[Operation], pbx: PbxClient, book: LinkBook, *, now: str,
          send_welcome_email: bool = False,
          progress: Callable[[Operation], None] | None = None) -> Outcome:
    """Carry out `ops` on the PBX; returns counts, failures and skips."""
    outcome = Outcome()
    full = False
    stopped: SyncError | None = None
    for op in ordered(ops):
        if progress:
            progress(op)
        if stopped is not None and not isinstance(op, Skip):
            outcome.fail(op, f"not attempted: {stopped}")
            continue
        if isinstance(op, Create) and full:
            outcome.skip(op, CAPACITY_REASON)
            continue
        try:
            _one(op, pbx, book, outcome, now)
        except PbxError as exc:
            if isinstance(op, Create):
                book.clear_pending(op.user_id)  # refused: nothing was created
                full = full or isinstance(exc, PbxLimitError)
            _refused(op, outcome, exc)
        except (AuthError, TransportError) as exc:
            stopped = exc
            outcome.fail(op, str(exc))
        except SyncError as exc:
            outcome.fail(op, str(exc))
    if outcome.unresolved:
        _resolve_created(pbx, book, outcome)
    if send_welcome_email and outcome.created_ids and stopped is None:
        _welcome(pbx, outcome)
    return outcome


def _refused(op: Operation, outcome: Outcome, exc: PbxError) -> None:
    """Record an operation the PBX answered with an error code."""
    if isinstance(exc, PbxLimitError) and isinstance(op, Create):
        outcome.skip(op, CAPACITY_REASON)
    elif isinstance(exc, PbxDuplicateError):
        clashes = ", ".join(f"{f.get('field')} {f.get('value')} is used by "
                            f"{f.get('external_source', 'object')} "
                            f"{f.get('external_source_name', '')}".strip()
                            for f in exc.fields) or exc.errmsg
        outcome.fail(op, clashes)
    else:
        outcome.fail(op, str(exc))


def _one(op: Operation, pbx: PbxClient, book: LinkBook, outcome: Outcome, now: str) -> None:
    if isinstance(op, Release):
        book.drop_link(op.user_id)
        book.mark_released(Link(op.user_id, op.ext_id, op.number, op.label), op.reason, now)
        outcome.counts["released"] += 1
    elif isinstance(op, Delete):
        with contextlib.suppress(PbxNotFoundError):  # already gone: the goal is reached
            pbx.delete_extension(op.ext_id)
        book.drop_link(op.user_id)
        outcome.counts["deleted"] += 1
    elif isinstance(op, Update):
        pbx.update_extension(op.ext_id, dict(op.changes))
        book.put_link(Link(op.user_id, op.ext_id, op.number, op.label))
        outcome.counts["updated"] += 1
    elif isinstance(op, Adopt):
        if op.changes:
            pbx.update_extension(op.ext_id, dict(op.changes))
        if op.replaces_user:
            book.drop_link(op.replaces_user)
        book.put_link(Link(op.user_id, op.ext_id, op.number, op.label))
        book.clear_pending(op.user_id)
        outcome.counts["linked"] += 1
    elif isinstance(op, Create):
        book.mark_pending(op.user_id, op.number)
        ext_id = pbx.create_extension(new_extension_fields(op), resolve_id=False)
        outcome.counts["created"] += 1
        if ext_id is None:
            outcome.unresolved.append(op)
        else:
            _link_created(book, outcome, op, ext_id)
    else:
        outcome.skip(op, op.reason)


def _link_created(book: LinkBook, outcome: Outcome, op: Create, ext_id: int) -> None:
    book.put_link(Link(op.user_id, ext_id, op.number, op.label))
    book.clear_pending(op.user_id)
    outcome.created_ids.append(ext_id)


def _resolve_created(pbx: PbxClient, book: LinkBook, outcome: Outcome) -> None:
    """Link the extensions created without an id, from one listing of the PBX.

    Should the listing fail, their pending marks stay, and the next run adopts them.
    """
    try:
        ids = pbx.extension_ids_by_number()
    except SyncError as exc:
        for op in outcome.unresolved:
            outcome.fail(op, f"created, but not linked yet (the next run links it): {exc}")
        return
    for op in outcome.unresolved:
        if op.number in ids:
            _link_created(book, outcome, op, ids[op.number])
        else:
            outcome.fail(op, f"created, but extension {op.number} is not on the PBX")


def new_extension_fields(op: Create) -> dict[str, Any]:
    """What `extension/create` needs: the owned fields plus safely generated credentials."""
    owned = {k: v for k, v in op.owned.as_dict().items() if v}
    return owned | {"number": op.number, "reg_name": op.number,
                    "user_password": generate_password(avoid=(op.number, op.owned.first_name,
                                                              op.owned.last_name)),
                    "reg_password": generate_password(), "concurrent_registrations": 1,
                    "presence_status": "available"}


def generate_password(length: int = 20, avoid: Iterable[str] = ()) -> str:
    """Upper, lower and digits, no run of 4 digits, none of `avoid` inside (the Cloud rule)."""
    alphabet = string.ascii_letters + string.digits
    avoid = [a.lower() for a in avoid if a]
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.isupper() for c in candidate) and any(c.islower() for c in candidate)
                and any(c.isdigit() for c in candidate)
                and not any(candidate[i:i + 4].isdigit() for i in range(length - 3))
                and not any(a in candidate.lower() for a in avoid)):
            return candidate


def _welcome(pbx: PbxClient, outcome: Outcome) -> None:
    ids = outcome.created_ids
    for start in range(0, len(ids), WELCOME_BATCH):
        try:
            pbx.send_welcome_email(ids[start : start + WELCOME_BATCH])
            outcome.counts["welcome_emails"] += len(ids[start : start + WELCOME_BATCH])
        except SyncError as exc:
            outcome.failures.append({"user_id": "", "name": "welcome email",
                                     "operation": "welcome_email", "reason": str(exc)})
            outcome.counts["failed"] += 1


_GROUP_ORDER = {ReleaseGroup: 0, DeleteGroup: 1, UpdateGroup: 2, CreateGroup: 3, SkipGroup: 4}


def apply_groups(ops: Iterable[GroupOperation], pbx: PbxClient, book: LinkBook) -> Outcome:
    """Carry out extension-group operations; one group's failure does not stop the others."""
    outcome = Outcome()
    for op in sorted(ops, key=lambda o: _GROUP_ORDER[type(o)]):
        try:
            _one_group(op, pbx, book, outcome)
        except PbxLimitError:
            outcome.skip(op, "the PBX holds no more extension groups")
        except SyncError as exc:
            outcome.fail(op, str(exc))
    return outcome


def _one_group(op: GroupOperation, pbx: PbxClient, book: LinkBook, outcome: Outcome) -> None:
    if isinstance(op, ReleaseGroup):
        book.drop_group_link(op.group_id)
        outcome.counts["released"] += 1
    elif isinstance(op, DeleteGroup):
        with contextlib.suppress(PbxNotFoundError):
            pbx.delete_extension_group(op.pbx_group_id)
        book.drop_group_link(op.group_id)
        outcome.counts["deleted"] += 1
    elif isinstance(op, UpdateGroup):
        pbx.update_extension_group(op.pbx_group_id, name=op.new_name,
                                   member_ids=None if op.member_ext_ids is None
                                   else list(op.member_ext_ids))
        book.put_group_link(GroupLink(op.group_id, op.pbx_group_id, op.name))
        outcome.counts["updated"] += 1
    elif isinstance(op, CreateGroup):
        pbx_id = pbx.create_extension_group(op.name, list(op.member_ext_ids))
        book.put_group_link(GroupLink(op.group_id, pbx_id, op.name))
        outcome.counts["created"] += 1
    else:
        outcome.skip(op, op.reason)


def apply_presence(updates: Iterable[PresenceUpdate], pbx: PbxClient,
                   book: PresenceBook) -> Outcome:
    """Set each extension's presence; one failure does not stop the others."""
    outcome = Outcome()
    for update in updates:
        try:
            pbx.update_extension(update.ext_id, {"presence_status": update.status})
        except PbxNotFoundError:
            continue  # the extension went away; the next user sync sees to it
        except SyncError as exc:
            outcome.counts["failed"] += 1
            outcome.failures.append({"user_id": update.user_id, "name": update.number,
                                     "operation": "presence", "reason": str(exc)})
            continue
        book.mark_presence_seen(update.user_id, update.availability)
        outcome.counts["updated"] += 1
    return outcome


_CONTACT_ORDER = {DeleteContact: 0, DeleteBook: 1, CreateBook: 2, RenameBook: 3,
                  UpdateContact: 4, CreateContact: 5, SkipContact: 6}


class ContactBook(Protocol):
    def book_links(self) -> dict[str, BookLink]: ...
    def put_book_link(self, link: BookLink) -> None: ...
    def drop_book_link(self, key: str) -> None: ...
    def put_contact_link(self, link: ContactLink) -> None: ...
    def drop_contact_link(self, key: str) -> None: ...


def apply_contacts(ops: Iterable[ContactOperation], pbx: PbxClient, book: ContactBook) -> Outcome:
    """Carry out phonebook and company-contact operations, deletions first.

    A contact still in a phonebook cannot be deleted (70091), so it leaves its phonebooks first.
    """
    outcome = Outcome()
    full = False
    for op in sorted(ops, key=lambda o: _CONTACT_ORDER[type(o)]):
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
