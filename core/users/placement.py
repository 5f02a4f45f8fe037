"""Where a new extension goes when the PBX has Organization Management on: users.organization,
resolved to the PBX's organization once a run, and the PBX's answers that say one is needed."""

from __future__ import annotations

import threading
from typing import Any

from core.errors import PbxError, SyncError
from core.pbx.client import PbxClient
from core.pbx.records import match_organization
from core.users.records import Create

ORGANIZATION_NEEDED = ("the PBX has Organization Management on, so a new extension needs an "
                       "organization: set users.organization to one of the PBX's organizations")
ORGANIZATION_OFF = ("users.organization is set, but Organization Management is off on the PBX "
                    "(70120 ORGANIZATION DISABLED): clear users.organization, or turn the "
                    "feature on")


class Unplaced(SyncError):
    """users.organization cannot be sent: the reason is the message."""


class Placement:
    """The `organization_list` of new extensions: users.organization, resolved once a run.

    Its Organization_Info shape is not in the documents; `[{"value": "<id>"}]` follows the
    `value` = ID convention of Get Menu Options (contracts/yeastar.md §6.3, §10).
    """

    def __init__(self, pbx: PbxClient) -> None:
        self.pbx = pbx
        self.needed = False  # the PBX refused a create for want of an organization
        self._resolved: dict[str, dict[str, Any] | str] = {}
        self._lock = threading.Lock()  # concurrent creates resolve it once

    def fields(self, op: Create) -> dict[str, Any]:
        if not op.organization:
            return {}
        with self._lock:
            if op.organization not in self._resolved:
                self._resolved[op.organization] = self._resolve(op.organization)
            found = self._resolved[op.organization]
        if isinstance(found, str):
            raise Unplaced(found)
        return found

    def _resolve(self, wanted: str) -> dict[str, Any] | str:
        try:
            organizations = self.pbx.organizations()
        except PbxError as exc:
            if exc.errcode == 70120:
                return ORGANIZATION_OFF
            raise
        found = match_organization(organizations, wanted)
        return found if isinstance(found, str) else {
            "organization_list": [{"value": str(found.id)}]}


def needs_organization(exc: PbxError) -> bool:
    """40002 naming `organization_list` as required: Organization Management is on."""
    problems = exc.body.get("invalid_param_list") or []
    return exc.errcode == 40002 and any(
        isinstance(p, dict) and p.get("field") == "organization_list"
        and p.get("validation_type") == "required" for p in problems)
