"""What the PBX holds, as the product reads it: extensions, extension groups, organizations."""

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


@dataclass(frozen=True)
class Organization:
    """An organization of Organization Management; `path` is "Root/Child", as the PBX's CSV
    files write it."""

    id: int
    name: str
    path: str


def match_organization(organizations: list[Organization], wanted: str) -> Organization | str:
    """The organization `wanted` names (an id, a path, or a name found once), else why not."""
    wanted = wanted.strip()
    for matches in ([o for o in organizations if str(o.id) == wanted],
                    [o for o in organizations if o.path.lower() == wanted.lower()],
                    [o for o in organizations if o.name.lower() == wanted.lower()]):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            return (f"users.organization {wanted!r} names {len(matches)} organizations of the "
                    f"PBX; give its path, such as {matches[0].path!r}")
    return f"users.organization {wanted!r} is not an organization of the PBX"
