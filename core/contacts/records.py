"""Contact sync records: wanted phonebooks and contacts, links, and the operations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class WantedContact:
    key: str  # "<mailbox id>/<contact id>"
    label: str
    fields: Mapping[str, Any]
    row: tuple[tuple[str, str], ...]  # how the PBX's list shows it, to notice drift


@dataclass(frozen=True)
class WantedBook:
    key: str  # "user:<id>" or "mailbox:<id>"
    name: str
    contacts: tuple[WantedContact, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (label, reason)


@dataclass(frozen=True)
class BookLink:
    key: str
    pbx_id: int
    name: str


@dataclass(frozen=True)
class ContactLink:
    key: str
    pbx_id: int
    book_key: str


@dataclass(frozen=True)
class CreateBook:
    key: str
    name: str


@dataclass(frozen=True)
class RenameBook:
    key: str
    pbx_id: int
    name: str


@dataclass(frozen=True)
class DeleteBook:
    key: str
    pbx_id: int
    name: str


@dataclass(frozen=True)
class CreateContact:
    key: str
    label: str
    book_key: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UpdateContact:
    key: str
    label: str
    pbx_id: int
    book_key: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeleteContact:
    key: str
    label: str
    pbx_id: int


@dataclass(frozen=True)
class SkipContact:
    key: str
    label: str
    reason: str


ContactOperation = (CreateBook | RenameBook | DeleteBook | CreateContact | UpdateContact
                    | DeleteContact | SkipContact)
