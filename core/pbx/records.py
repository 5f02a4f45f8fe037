"""What the PBX holds, as the product reads it: extensions, extension groups, organizations;
and how an extension is read from an answer (`parse_extension`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load

from core.errors import PbxError


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


class ExtensionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Integer(required=True)
    number = fields.String(required=True)
    caller_id_name = fields.String(load_default="")
    email_addr = fields.String(load_default="")
    mobile_number = fields.String(load_default="")
    presence_status = fields.String(load_default="")
    first_name = fields.String(load_default="")
    last_name = fields.String(load_default="")
    title = fields.String(load_default="")

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> Extension:
        return Extension(**data)


_EXTENSION = ExtensionSchema()
_EXTENSION_TEXTS = ("caller_id_name", "email_addr", "mobile_number", "presence_status",
                    "first_name", "last_name", "title")


def parse_extension(row: dict[str, Any]) -> Extension:
    """The extension a row of an answer holds; a PbxError when the row has another shape."""
    plain = _plain_extension(row)
    if plain is not None:
        return plain
    try:
        return _EXTENSION.load(row)
    except ValidationError as exc:
        raise PbxError("GET", "(response body)", {"errcode": -2, "errmsg":
                                                  f"unexpected extension shape: {exc.messages}"},
                       "") from None


def _plain_extension(row: Any) -> Extension | None:
    """The extension `ExtensionSchema` would load from `row`, when its id is a JSON integer and
    its number and other texts are JSON strings (or absent); else None, and the schema decides.
    The PBX's answers are plain, and a sync reads two rows for each of tens of thousands of
    extensions: this is the fast way to the same record."""
    if type(row) is not dict or type(row.get("id")) is not int or type(row.get("number")) is not str:
        return None
    texts = {}
    for name in _EXTENSION_TEXTS:
        value = row.get(name, "")
        if type(value) is not str:
            return None
        texts[name] = value
    return Extension(id=row["id"], number=row["number"], **texts)
