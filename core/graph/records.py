"""What the product reads from Entra ID and Outlook, parsed at the boundary into frozen records
(and Graph's error answers into our errors)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_load

from core.errors import DeltaExpiredError, GraphError

USER_SELECT = ("id", "displayName", "givenName", "surname", "mail", "userPrincipalName",
               "mobilePhone", "businessPhones", "jobTitle", "accountEnabled", "userType",
               "employeeId", "onPremisesExtensionAttributes")


@dataclass(frozen=True)
class EntraUser:
    id: str
    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    mail: str | None = None
    user_principal_name: str | None = None
    mobile_phone: str | None = None
    business_phones: tuple[str, ...] = ()
    job_title: str | None = None
    account_enabled: bool = True
    user_type: str = "Member"
    properties: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class EntraGroup:
    id: str
    display_name: str | None = None
    group_types: tuple[str, ...] = ()
    security_enabled: bool = False
    mail_enabled: bool = False


@dataclass(frozen=True)
class Removed:
    """A delta entry for an object that left: `reason` is "changed" (soft) or "deleted"."""

    id: str
    reason: str


@dataclass(frozen=True)
class MemberChange:
    id: str
    kind: str  # user | group
    removed: bool


@dataclass(frozen=True)
class EntraContact:
    id: str
    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    company_name: str | None = None
    mobile_phone: str | None = None
    home_phones: tuple[str, ...] = ()
    business_phones: tuple[str, ...] = ()
    email: str | None = None


@dataclass(frozen=True)
class Presence:
    id: str
    availability: str
    activity: str | None = None
    sequence_number: str | None = None


class _Strict(Schema):
    class Meta:
        unknown = EXCLUDE


def _text() -> fields.String:
    return fields.String(allow_none=True, load_default=None)


def _texts(key: str) -> fields.List:
    return fields.List(fields.String(), data_key=key, load_default=list, allow_none=True)


class UserSchema(_Strict):
    id = fields.String(required=True)
    display_name = fields.String(data_key="displayName", allow_none=True, load_default=None)
    given_name = fields.String(data_key="givenName", allow_none=True, load_default=None)
    surname = _text()
    mail = _text()
    user_principal_name = fields.String(data_key="userPrincipalName", allow_none=True,
                                        load_default=None)
    mobile_phone = fields.String(data_key="mobilePhone", allow_none=True, load_default=None)
    business_phones = _texts("businessPhones")
    job_title = fields.String(data_key="jobTitle", allow_none=True, load_default=None)
    account_enabled = fields.Boolean(data_key="accountEnabled", allow_none=True, load_default=True)
    user_type = fields.String(data_key="userType", allow_none=True, load_default="Member")

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> EntraUser:
        return EntraUser(**(data | {"business_phones": tuple(data["business_phones"] or ()),
                                    "account_enabled": data["account_enabled"] is not False,
                                    "user_type": data["user_type"] or "Member"}))


class GroupSchema(_Strict):
    id = fields.String(required=True)
    display_name = fields.String(data_key="displayName", allow_none=True, load_default=None)
    group_types = _texts("groupTypes")
    security_enabled = fields.Boolean(data_key="securityEnabled", allow_none=True,
                                      load_default=False)
    mail_enabled = fields.Boolean(data_key="mailEnabled", allow_none=True, load_default=False)

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> EntraGroup:
        return EntraGroup(**(data | {"group_types": tuple(data["group_types"] or ()),
                                     "security_enabled": bool(data["security_enabled"]),
                                     "mail_enabled": bool(data["mail_enabled"])}))


class _EmailSchema(_Strict):
    address = _text()


class ContactSchema(_Strict):
    id = fields.String(required=True)
    display_name = fields.String(data_key="displayName", allow_none=True, load_default=None)
    given_name = fields.String(data_key="givenName", allow_none=True, load_default=None)
    surname = _text()
    company_name = fields.String(data_key="companyName", allow_none=True, load_default=None)
    mobile_phone = fields.String(data_key="mobilePhone", allow_none=True, load_default=None)
    home_phones = _texts("homePhones")
    business_phones = _texts("businessPhones")
    email_addresses = fields.List(fields.Nested(_EmailSchema), data_key="emailAddresses",
                                  load_default=list, allow_none=True)

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> EntraContact:
        emails = [e.get("address") for e in data.pop("email_addresses") or [] if e.get("address")]
        return EntraContact(**(data | {"home_phones": tuple(data["home_phones"] or ()),
                                       "business_phones": tuple(data["business_phones"] or ()),
                                       "email": emails[0] if emails else None}))


class PresenceSchema(_Strict):
    id = fields.String(required=True)
    availability = fields.String(required=True)
    activity = _text()
    sequence_number = fields.String(data_key="sequenceNumber", allow_none=True, load_default=None)

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> Presence:
        return Presence(**data)


_USER, _GROUP, _CONTACT, _PRESENCE = UserSchema(), GroupSchema(), ContactSchema(), PresenceSchema()


# (attribute, Graph's name) of the user's optional text properties
_USER_TEXTS = (("display_name", "displayName"), ("given_name", "givenName"),
               ("surname", "surname"), ("mail", "mail"),
               ("user_principal_name", "userPrincipalName"), ("mobile_phone", "mobilePhone"),
               ("job_title", "jobTitle"))


def parse_user(raw: dict[str, Any]) -> EntraUser:
    """A user; every selected property stays reachable in `properties` (numbering reads them)."""
    return _plain_user(raw) or replace(_USER.load(raw), properties=dict(raw))


def _plain_user(raw: Any) -> EntraUser | None:
    """The user `UserSchema` would load from `raw`, when each property has its plain JSON type
    (text or null, a list of texts, true, false or null); else None, and the schema decides.
    Graph's answers are plain, and a sync reads tens of thousands of them: this is the fast way
    to the same record."""
    if type(raw) is not dict or type(raw.get("id")) is not str:
        return None
    texts = {}
    for name, key in _USER_TEXTS:
        value = raw.get(key)
        if value is not None and type(value) is not str:
            return None
        texts[name] = value
    phones = raw.get("businessPhones")
    if phones is not None and (type(phones) is not list
                               or any(type(p) is not str for p in phones)):
        return None
    enabled, user_type = raw.get("accountEnabled"), raw.get("userType", "Member")
    if (enabled is not None and type(enabled) is not bool) or (
            user_type is not None and type(user_type) is not str):
        return None
    return EntraUser(id=raw["id"], business_phones=tuple(phones or ()),
                     account_enabled=enabled is not False, user_type=user_type or "Member",
                     properties=dict(raw), **texts)


def parse_group(raw: dict[str, Any]) -> EntraGroup:
    return _GROUP.load(raw)


def parse_contact(raw: dict[str, Any]) -> EntraContact:
    return _CONTACT.load(raw)


def parse_presence(raw: dict[str, Any]) -> Presence:
    return _PRESENCE.load(raw)


def graph_error(method: str, url: str, status: int, text: str,
                location: str | None) -> GraphError:
    """The error Graph's answer `{"error": {"code", "message"}}` says, for a request or for one
    request of a batch alike."""
    try:
        error = json.loads(text).get("error", {})
        code, message = str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        code, message = "", ""
    expired = status == 410 or code in ("syncStateNotFound", "resyncRequired")
    cls = DeltaExpiredError if expired else GraphError
    return cls(method, url, status, text, code or f"HTTP{status}", message or (location or ""))
