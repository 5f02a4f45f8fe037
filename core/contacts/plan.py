"""Outlook contacts → PBX company contacts in phonebooks (O1-O3), the pure part.

There is no API for an extension's personal contacts, so each synced user's Outlook contacts
go into a phonebook of their own, named after the user (`Ada Lovelace (1001)`), and each
shared mailbox's into the phonebook mapped to it. Contacts and phonebooks are matched through
links; a contact without a first or last name, or without a mobile, home or business number,
is skipped and reported (O3).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

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
    WantedBook,
    WantedContact,
)
from core.graph.records import EntraContact

_NUMBER_CHARS = re.compile(r"[^0-9+()\-. ]")
NAME_LIMIT = 127


def _number(value: str | None) -> str:
    return _NUMBER_CHARS.sub("", value or "").strip()[:31]


def wanted_contact(mailbox_id: str, contact: EntraContact) -> WantedContact | SkipContact:
    """The PBX fields of an Outlook contact, or why it is skipped (O3)."""
    key = f"{mailbox_id}/{contact.id}"
    given, surname = (contact.given_name or "").strip(), (contact.surname or "").strip()
    label = " ".join(p for p in (given, surname) if p) or contact.display_name or contact.id
    if not given and not surname:
        return SkipContact(key, label, "a contact needs a first or last name")
    numbers = [("mobile_number", _number(contact.mobile_phone))]
    numbers += [(kind, _number(value)) for kind, value in
                zip(("home_number", "home_number2"), contact.home_phones, strict=False)]
    numbers += [(kind, _number(value)) for kind, value in
                zip(("business_number", "business_number2"), contact.business_phones,
                    strict=False)]
    number_list = [{"num_type": kind, "number": value} for kind, value in numbers if value]
    if not number_list:
        return SkipContact(key, label, "a contact needs a mobile, home or business number")
    first, last = (given, surname) if given else (surname, "")
    fields = {"first_name": first[:NAME_LIMIT], "last_name": last[:NAME_LIMIT],
              "company": (contact.company_name or "")[:NAME_LIMIT],
              "email": (contact.email or "")[:NAME_LIMIT], "number_list": number_list}
    flat = {"contact_name": " ".join(p for p in (fields["first_name"], fields["last_name"]) if p),
            "company": fields["company"], "email": fields["email"]}
    flat |= {_FLAT[item["num_type"]]: item["number"] for item in number_list}
    return WantedContact(key, label, fields, tuple(sorted(flat.items())))


_FLAT = {"mobile_number": "mobile", "home_number": "home", "home_number2": "home2",
         "business_number": "business", "business_number2": "business2"}
ROW_FIELDS = ("contact_name", "company", "email", "mobile", "home", "home2", "business",
              "business2")


def row_of(pbx_row: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The comparable part of a `company_contact/list` row."""
    return tuple(sorted((k, str(pbx_row.get(k) or "")) for k in ROW_FIELDS
                        if pbx_row.get(k)))


def plan_contacts(wanted: tuple[WantedBook, ...], pbx_books: Mapping[int, Mapping[str, Any]],
                  pbx_contacts: Mapping[int, Mapping[str, Any]], book_links: Mapping[str, BookLink],
                  contact_links: Mapping[str, ContactLink], *,
                  unread: frozenset[str] = frozenset()) -> tuple[ContactOperation, ...]:
    """The operations that bring the synced phonebooks and their contacts to `wanted`.

    The phonebooks in `unread` belong to mailboxes that could not be read this time: they and
    their contacts are left exactly as they are (SPEC "Always": nothing is deleted because of
    an error).
    """
    ops: list[ContactOperation] = []
    wanted_books = {b.key: b for b in wanted}
    wanted_contacts = {c.key: (b.key, c) for b in wanted for c in b.contacts}
    for key, link in sorted(contact_links.items()):
        if key not in wanted_contacts and link.pbx_id in pbx_contacts \
                and link.book_key not in unread:
            ops.append(DeleteContact(key, key, link.pbx_id))
    for key, link in sorted(book_links.items()):
        if key not in wanted_books and link.pbx_id in pbx_books and key not in unread:
            ops.append(DeleteBook(key, link.pbx_id, link.name))
    taken = {str(b.get("name")) for i, b in pbx_books.items()
             if i not in {link.pbx_id for link in book_links.values()}}
    for book in wanted:
        link = book_links.get(book.key)
        if book.name in taken:
            ops += [SkipContact(c.key, c.label, f"the PBX already has a phonebook named "
                                f"{book.name!r} that is not synced") for c in book.contacts]
            continue
        if link is None or link.pbx_id not in pbx_books:
            ops.append(CreateBook(book.key, book.name))
        elif pbx_books[link.pbx_id].get("name") != book.name:
            ops.append(RenameBook(book.key, link.pbx_id, book.name))
        book_id = link.pbx_id if link and link.pbx_id in pbx_books else None
        for label, reason in book.skipped:
            ops.append(SkipContact(f"{book.key}:{label}", label, reason))
        for contact in book.contacts:
            clink = contact_links.get(contact.key)
            current = pbx_contacts.get(clink.pbx_id) if clink else None
            if current is None:
                ops.append(CreateContact(contact.key, contact.label, book.key, contact.fields))
            elif row_of(current) != contact.row or book_id is None or book_id not in {
                    int(p["id"]) for p in current.get("phonebook_list") or []}:
                ops.append(UpdateContact(contact.key, contact.label, clink.pbx_id, book.key,
                                         contact.fields))
    return tuple(ops)
