"""In-memory state of the simulated PBX: tokens, extensions, groups, contacts and phonebooks."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PRESENCE_VALUES = ("available", "away", "business_trip", "do_not_disturb", "lunch", "off_work")
DEFAULT_GROUP = "Default_All_Extensions"
DEFAULT_PHONEBOOK = "All Company Contacts_Phonebook"


class PbxFailure(Exception):
    """An OpenAPI error answer: HTTP 200 with a non-zero errcode and optional detail lists."""

    MESSAGES = {
        -2: "INTERNAL SERVER ERROR",
        -1: "FAILURE",
        10001: "INTERFACE NOT EXISTED",
        10004: "TOKEN EXPIRED",
        40001: "PARAMETER SYNTAX ERROR",
        40002: "PARAMETER ERROR",
        40003: "DUPLICATE KEY VALUE",
        60001: "DATA NOT FOUND",
        60002: "MAX LIMITATION EXCEEDED",
        70004: "ACCOUNT IP BLOCKED",
        70082: "OVERLOAD_TASK_RUNNING",
        70091: "CONNECTION_RELATION_EXISTED",
        70093: "PHONEBOOK_NOT_EXISTED",
        70120: "ORGANIZATION DISABLED",
    }

    def __init__(self, errcode: int, **detail: Any) -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.detail = detail

    def body(self) -> dict[str, Any]:
        message = self.MESSAGES.get(self.errcode, "FAILURE")
        return {"errcode": self.errcode, "errmsg": message} | self.detail


def required(field_name: str) -> PbxFailure:
    return PbxFailure(40002, invalid_param_list=[{"field": field_name, "validation_type": "required"}])


def invalid(field_name: str, value: Any) -> PbxFailure:
    return PbxFailure(40002, invalid_param_list=[{"field": field_name, "value": str(value)}])


class ExtensionTable(dict[int, dict[str, Any]]):
    """Extensions by id, with number and email indexes kept in step (uniqueness checks at scale)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_number: dict[str, int] = {}
        self.by_email: dict[str, int] = {}

    def __setitem__(self, ext_id: int, ext: dict[str, Any]) -> None:
        if ext_id in self:
            self._unindex(self[ext_id])
        super().__setitem__(ext_id, ext)
        self._index(ext)

    def __delitem__(self, ext_id: int) -> None:
        self._unindex(self[ext_id])
        super().__delitem__(ext_id)

    def clear(self) -> None:
        super().clear()
        self.by_number.clear()
        self.by_email.clear()

    def change(self, ext_id: int, fields: dict[str, Any]) -> None:
        """Update an extension's fields in place, keeping the indexes right."""
        ext = self[ext_id]
        self._unindex(ext)
        ext.update(fields)
        self._index(ext)

    def _index(self, ext: dict[str, Any]) -> None:
        self.by_number[ext["number"]] = ext["id"]
        if ext.get("email_addr"):
            self.by_email[ext["email_addr"].lower()] = ext["id"]

    def _unindex(self, ext: dict[str, Any]) -> None:
        self.by_number.pop(ext["number"], None)
        if ext.get("email_addr"):
            self.by_email.pop(ext["email_addr"].lower(), None)


@dataclass
class Token:
    access_token: str
    refresh_token: str
    access_expires: float
    refresh_expires: float


@dataclass
class PbxStore:
    client_id: str = field(default_factory=lambda: secrets.token_hex(16))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    capacity: int = 1000
    max_tokens: int = 8
    access_ttl: int = 1800
    refresh_ttl: int = 86400
    max_concurrent: int | None = None
    max_groups: int = 63
    max_phonebooks: int = 200
    tokens: list[Token] = field(default_factory=list)
    failed_logins: Counter[str] = field(default_factory=Counter)
    blocked_ips: set[str] = field(default_factory=set)
    extensions: ExtensionTable = field(default_factory=ExtensionTable)
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    phonebooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    welcome_emails: list[int] = field(default_factory=list)
    organization_management: bool = False  # a PBX setting; see sandbox/pbx/organizations.py
    timezone: str | None = None  # "UTC+8 Asia/Shanghai"; None: firmware without timezone/list
    edition: str = "software"  # software | cloud | appliance: Cloud has a stricter user_password
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    in_flight: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        gid = self.next_id("group")
        self.groups[gid] = {"id": gid, "name": DEFAULT_GROUP, "member_select": "sel_all_ext",
                            "members": []}
        pid = self.next_id("phonebook")
        self.phonebooks[pid] = {"id": pid, "name": DEFAULT_PHONEBOOK, "member_select": "sel_all",
                                "contacts": set()}

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # tokens ------------------------------------------------------------------------------
    def live_tokens(self, now: float) -> list[Token]:
        self.tokens = [t for t in self.tokens if t.access_expires > now or t.refresh_expires > now]
        return [t for t in self.tokens if t.access_expires > now]

    def issue_token(self, now: float) -> Token:
        if len(self.live_tokens(now)) >= self.max_tokens:
            raise PbxFailure(60002)
        token = Token(secrets.token_hex(16), secrets.token_hex(16), now + self.access_ttl,
                      now + self.refresh_ttl)
        self.tokens.append(token)
        return token

    def token_for_access(self, access_token: str, now: float) -> Token | None:
        for token in self.tokens:
            if token.access_token == access_token and token.access_expires > now:
                return token
        return None

    def refresh(self, refresh_token: str, now: float) -> Token:
        for token in self.tokens:
            if token.refresh_token == refresh_token and token.refresh_expires > now:
                self.tokens.remove(token)
                return self.issue_token(now)
        raise PbxFailure(-1, invalid_param_list=[{"field": "refresh_token", "value": "error"}])

    def revoke(self, access_token: str) -> None:
        self.tokens = [t for t in self.tokens if t.access_token != access_token]

    # lookups -----------------------------------------------------------------------------
    def extension(self, ext_id: Any) -> dict[str, Any]:
        try:
            return self.extensions[int(ext_id)]
        except (KeyError, TypeError, ValueError):
            raise PbxFailure(60001) from None

    def extension_by_number(self, number: str) -> dict[str, Any] | None:
        ext_id = self.extensions.by_number.get(number)
        return None if ext_id is None else self.extensions[ext_id]
