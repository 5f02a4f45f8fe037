"""The settings document an administrator edits (INTERFACES.md), validated with marshmallow.

`merge(current, patch)` applies a partial document and returns the whole new one, or raises
SettingsInvalid listing every field error at once (unknown keys included).
"""

from __future__ import annotations

import copy
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

from core.errors import SyncError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
USER_PROPERTY = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$")


class SettingsInvalid(SyncError):
    """The document has errors; `errors` maps dotted field paths to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(errors.items())))
        self.errors = errors


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _range(*choices: str) -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(choices))


def _ids() -> fields.List:
    return fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True)


class Numbering(_Strict):
    mode = _range("auto", "property")
    start = fields.String(required=True, validate=validate.Regexp(r"^\d{1,7}$", error=(
        "must be 1 to 7 digits")))
    property = fields.String(required=True, validate=validate.Regexp(USER_PROPERTY, error=(
        "must be a user property path such as businessPhones or "
        "onPremisesExtensionAttributes.extensionAttribute1")))
    # The PBX cannot change an extension's number ("Edit an Extension" has no `number`): a
    # changed number is reported, or the extension is deleted and created with it.
    on_change = fields.String(load_default="report", validate=validate.OneOf(("report",
                                                                              "recreate")))


class Users(_Strict):
    enabled = fields.Boolean(required=True)
    range = _range("all", "types", "groups")
    user_types = fields.List(fields.String(validate=validate.OneOf(("Member", "Guest"))),
                             required=True)
    group_ids = _ids()
    auto_delete_out_of_range = fields.Boolean(required=True)
    numbering = fields.Nested(Numbering, required=True)
    delete_when = fields.List(fields.String(validate=validate.OneOf(("disabled", "deleted"))),
                              required=True)
    associate_by_email = fields.Boolean(required=True)
    send_welcome_email = fields.Boolean(required=True)
    # With Organization Management on, the PBX needs an organization for every new extension:
    # this one (an id, a path such as "Contoso/Sales", or a name), or none when empty.
    organization = fields.String(load_default="", validate=validate.Length(max=255))

    @validates_schema(skip_on_field_errors=False)
    def _range_needs_choices(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("range") == "types" and not data.get("user_types"):
            raise ValidationError("choose at least one user type", "user_types")
        if data.get("range") == "groups" and not data.get("group_ids"):
            raise ValidationError("choose at least one group", "group_ids")


class Groups(_Strict):
    enabled = fields.Boolean(required=True)
    range = _range("all", "types", "groups")
    group_types = fields.List(fields.String(validate=validate.OneOf(("security", "microsoft365"))),
                              required=True)
    group_ids = _ids()
    auto_delete_out_of_range = fields.Boolean(required=True)


class Personal(_Strict):
    enabled = fields.Boolean(required=True)
    range = _range("all", "groups")
    group_ids = _ids()


class Mailbox(_Strict):
    mailbox = fields.Email(required=True)
    phonebook = fields.String(required=True, validate=validate.Length(min=1, max=127))


class Shared(_Strict):
    enabled = fields.Boolean(required=True)
    range = _range("all", "mailboxes")
    mailboxes = fields.List(fields.Nested(Mailbox), required=True)


class Contacts(_Strict):
    personal = fields.Nested(Personal, required=True)
    shared = fields.Nested(Shared, required=True)


class PresenceRules(_Strict):
    enabled = fields.Boolean(required=True)
    poll_interval_seconds = fields.Integer(required=True, validate=validate.Range(min=10, max=3600))


class Sso(_Strict):
    enabled = fields.Boolean(required=True)
    redirect_uris = fields.List(fields.Url(schemes={"https", "http"}), required=True)
    admin_group_ids = _ids()


class ScheduleRules(_Strict):
    frequency = _range("daily", "weekly")
    weekday = fields.String(required=True, validate=validate.OneOf(WEEKDAYS))
    time = fields.String(required=True, validate=validate.Regexp(
        r"^([01]\d|2[0-3]):[0-5]\d$", error="must be HH:MM, 00:00 to 23:59"))
    # No default: M1 runs in the PBX's time zone, which the administrator chooses at the first
    # save of a sync part (merge() refuses it before), never a silent UTC.
    timezone = fields.String(required=True, allow_none=True)

    @validates("timezone")
    def _known_zone(self, value: str | None, **_: Any) -> None:
        if value is None:
            return
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"unknown time zone {value!r}") from None


class Safety(_Strict):
    max_deletions = fields.Integer(required=True, validate=validate.Range(min=0, max=100_000))


PBX_CONCURRENCY = "must be a whole number from 1 to 16"


class Performance(_Strict):
    # How many PBX requests a sync sends at once (halved while the PBX says it is busy).
    pbx_concurrency = fields.Integer(
        required=True, strict=True, error_messages={"invalid": PBX_CONCURRENCY},
        validate=validate.Range(min=1, max=16, error=PBX_CONCURRENCY))


class SettingsDocument(_Strict):
    users = fields.Nested(Users, required=True)
    groups = fields.Nested(Groups, required=True)
    contacts = fields.Nested(Contacts, required=True)
    presence = fields.Nested(PresenceRules, required=True)
    sso = fields.Nested(Sso, required=True)
    schedule = fields.Nested(ScheduleRules, required=True)
    safety = fields.Nested(Safety, required=True)
    # Documents saved before this section existed read as the default.
    performance = fields.Nested(Performance, load_default=lambda: {"pbx_concurrency": 4})


DEFAULTS: dict[str, Any] = {
    "users": {"enabled": False, "range": "all", "user_types": ["Member"], "group_ids": [],
              "auto_delete_out_of_range": False,
              "numbering": {"mode": "auto", "start": "1000", "property": "businessPhones",
                            "on_change": "report"},
              "delete_when": ["disabled", "deleted"], "associate_by_email": True,
              "send_welcome_email": False, "organization": ""},
    "groups": {"enabled": False, "range": "all", "group_types": ["security", "microsoft365"],
               "group_ids": [], "auto_delete_out_of_range": False},
    "contacts": {"personal": {"enabled": False, "range": "all", "group_ids": []},
                 "shared": {"enabled": False, "range": "all", "mailboxes": []}},
    "presence": {"enabled": False, "poll_interval_seconds": 30},
    "sso": {"enabled": False, "redirect_uris": [], "admin_group_ids": []},
    "schedule": {"frequency": "daily", "weekday": "saturday", "time": "00:30",
                 "timezone": None},
    "safety": {"max_deletions": 50},
    "performance": {"pbx_concurrency": 4},
}
_SCHEMA = SettingsDocument()


def defaults() -> dict[str, Any]:
    return copy.deepcopy(DEFAULTS)


def pbx_concurrency(document: Any) -> int:
    """`performance.pbx_concurrency` of a validated document; 4 when it has no such section."""
    return int((document.get("performance") or {}).get("pbx_concurrency", 4))


def validate_document(document: Any) -> dict[str, Any]:
    """The document if valid; raises SettingsInvalid with every error."""
    try:
        return dict(_SCHEMA.load(document))
    except ValidationError as exc:
        raise SettingsInvalid(_flatten(exc.messages)) from None


def merge(current: dict[str, Any], patch: Any) -> dict[str, Any]:
    """`current` with the partial document `patch` applied (objects merge, lists replace).

    A sync part may be on only once the schedule's time zone is chosen: the save that turns
    the first one on must set `schedule.timezone` (the PBX's), or have set it before."""
    if not isinstance(patch, dict):
        raise SettingsInvalid({"_schema": ["the settings document must be a JSON object"]})
    merged = _deep_merge(copy.deepcopy(current), patch)
    errors: dict[str, list[str]] = {}
    try:
        document = validate_document(merged)
    except SettingsInvalid as exc:
        errors, document = dict(exc.errors), merged
    if _any_sync_part_on(document) and not _zone_of(document):
        errors.setdefault("schedule.timezone", []).append(NO_ZONE)
    if errors:
        raise SettingsInvalid(errors)
    return document


NO_ZONE = "choose the PBX's time zone"


def _any_sync_part_on(document: Any) -> bool:
    """Users, groups or contacts on (a malformed switch is its own field error)."""
    try:
        contacts = document["contacts"]
        switches = (document["users"]["enabled"], document["groups"]["enabled"],
                    contacts["personal"]["enabled"], contacts["shared"]["enabled"])
    except (KeyError, TypeError):
        return False
    return any(switch is True for switch in switches)


def _zone_of(document: Any) -> Any:
    try:
        return document["schedule"]["timezone"]
    except (KeyError, TypeError):
        return None


def _deep_merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        for key, value in patch.items():
            base[key] = _deep_merge(base[key], value) if key in base else value
        return base
    return patch


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(messages, list):
        return {prefix or "_schema": [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        flat |= _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return flat
