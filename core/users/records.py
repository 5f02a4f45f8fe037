"""User sync records: links, the desired state of a user, and the operations on extensions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.pbx.records import Extension

OWNED_FIELDS = ("first_name", "last_name", "email_addr", "mobile_number", "title")


@dataclass(frozen=True)
class Link:
    """A user synced to an extension, as the state store keeps it."""

    user_id: str
    ext_id: int
    number: str
    label: str = ""


@dataclass(frozen=True)
class Owned:
    """The extension fields Entra ID owns (U7)."""

    first_name: str = ""
    last_name: str = ""
    email_addr: str = ""
    mobile_number: str = ""
    title: str = ""

    def changes(self, ext: Extension) -> tuple[tuple[str, str], ...]:
        """The owned fields whose value on `ext` differs (the email compared without case)."""
        if (self.first_name == ext.first_name and self.last_name == ext.last_name
                and self.mobile_number == ext.mobile_number and self.title == ext.title
                and self.email_addr.lower() == ext.email_addr.lower()):
            return ()  # most extensions of a re-sync have not drifted: one pass, no lookups
        diff = []
        for name in OWNED_FIELDS:
            want, have = getattr(self, name), getattr(ext, name)
            same = want.lower() == have.lower() if name == "email_addr" else want == have
            if not same:
                diff.append((name, want))
        return tuple(diff)

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in OWNED_FIELDS}


@dataclass(frozen=True)
class Wanted:
    """A user in range, with the fields and (in property mode) the number it should have."""

    user_id: str
    label: str
    owned: Owned
    disabled: bool = False
    claimed: str | None = None
    claim_error: str | None = None


@dataclass(frozen=True)
class Desired:
    wanted: tuple[Wanted, ...]
    doomed: Mapping[str, str] = field(default_factory=dict)  # user id -> why it is deleted
    present: frozenset[str] = frozenset()  # every user id of the tenant, in range or not
    soft_deleted: frozenset[str] = frozenset()
    numbering: Mapping[str, Any] = field(default_factory=lambda: {"mode": "auto", "start": "1000"})
    auto_delete_out_of_range: bool = False
    associate_by_email: bool = True
    delete_deleted: bool = True
    organization: str = ""  # users.organization, for new extensions

    def gone(self, user_id: str) -> bool:
        """Deleted: soft-deleted, or absent from the tenant altogether."""
        return user_id in self.soft_deleted or user_id not in self.present


# operations ------------------------------------------------------------------------------
# `after_delete`, on an operation that takes a number: the id of the extension whose `Delete`
# in the same plan frees that number. It must not run unless that deletion is applied first.
@dataclass(frozen=True)
class Create:
    user_id: str
    label: str
    number: str
    owned: Owned
    recreate: bool = False
    after_delete: int | None = None
    organization: str = ""  # sent as `organization_list` (Organization Management)


@dataclass(frozen=True)
class Update:
    user_id: str
    label: str
    ext_id: int
    number: str
    changes: tuple[tuple[str, str], ...]
    after_delete: int | None = None


@dataclass(frozen=True)
class Adopt:
    """Link an existing extension to a user and overwrite its owned fields (U5)."""

    user_id: str
    label: str
    ext_id: int
    number: str
    changes: tuple[tuple[str, str], ...]
    replaces_user: str | None = None
    after_delete: int | None = None


@dataclass(frozen=True)
class Delete:
    user_id: str
    label: str
    ext_id: int
    number: str
    reason: str


@dataclass(frozen=True)
class Release:
    """Unlink: the extension stays on the PBX, fully managed there from now on (U2)."""

    user_id: str
    label: str
    ext_id: int
    number: str
    reason: str


@dataclass(frozen=True)
class Skip:
    user_id: str
    label: str
    reason: str


Operation = Create | Update | Adopt | Delete | Release | Skip


@dataclass(frozen=True)
class PbxView:
    """The extensions on the PBX; those linked or adoptable carry their full detail."""

    extensions: Mapping[int, Extension]
