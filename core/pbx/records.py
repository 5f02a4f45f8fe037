"""What the PBX holds, as the product reads it: extensions and extension groups."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Extension:
    """An extension as list rows and `extension/get` show it."""

    id: int
    number: str
    caller_id_name: str = ""
    email_addr: str = ""
    mobile_number: str = ""
    presence_status: str = ""
    first_name: str = ""
    last_name: str = ""
    title: str = ""


@dataclass(frozen=True)
class ExtensionGroup:
    id: int
    name: str
    member_select: str
    member_ids: tuple[int, ...] = ()
