"""`--write-test-extension NUMBER`: create one extension with safe generated fields, read it back,
edit it, delete it, and compare each answer. A number already in use is refused before any write;
the extension is deleted whatever fails in between."""

from __future__ import annotations

import secrets
import string
from typing import Any

from core.errors import PbxNotFoundError, SyncError
from core.pbx.client import PbxClient
from core.probe import assumptions as a
from core.probe.compare import differences
from core.probe.report import Check, answered, refusal

SAFE = {"first_name": "Contract", "last_name": "Probe", "title": "entra-pbx-sync contract probe",
        "presence_status": "available", "concurrent_registrations": 1}
EDIT = {"title": "entra-pbx-sync contract probe (edited)", "presence_status": "away"}


def password(length: int = 16) -> str:
    """Upper and lower case letters and digits, never two digits in a row: the Cloud edition
    refuses four consecutive or equal digits (yeastar.md §6.3). Never shown or kept."""
    pools = (string.ascii_uppercase, string.ascii_lowercase, string.ascii_lowercase, string.digits)
    return "".join(secrets.choice(pools[i % 4]) for i in range(length))


def write_checks(pbx: PbxClient, number: str) -> list[Check]:
    """Three checks: create (and read back), update (and read back), delete (and look again)."""
    create = Check(f"pbx extension/create {number}", "POST extension/create, GET extension/get",
                   f"{a.CREATED.source}; {a.EXTENSION_DETAIL.source}")
    if not (number.isdigit() and len(number) <= 7):
        create.differ(f"{number!r} is not 1 to 7 digits (yeastar.md §6.3): nothing was written")
        return [create]
    try:
        taken = _find(pbx, number)
    except SyncError as exc:
        create.differ(f"{refusal(exc)}: nothing was written")
        return [create]
    if taken is not None:
        create.differ(f"refused: extension {number} exists already; nothing was written")
        return [create]
    update = Check(f"pbx extension/update {number}", "POST extension/update, GET extension/get",
                   f"{a.SUCCESS.source}; yeastar.md §6.4 (only the sent fields change)")
    delete = Check(f"pbx extension/delete {number}", "GET extension/delete, GET extension/get",
                   f"{a.SUCCESS.source}; {a.EXTENSION_NOT_FOUND.source}")
    ext_id = None
    try:
        with answered(create):
            answer = pbx.call("POST", "extension/create", json={
                "type": "SIP", "number": number, **SAFE, "reg_name": number,
                "user_password": password(), "reg_password": password()})
            create.differ(*differences(a.CREATED, answer))
            ext_id = answer.get("id") if isinstance(answer.get("id"), int) else None
            create.note("create answered the new id" if ext_id is not None
                        else "create answered no id: found by its number")
            ext_id = ext_id if ext_id is not None else _find(pbx, number)
            if ext_id is None:
                create.differ("the new extension is not found by its number")
            else:
                _read_back(pbx, create, ext_id, {"number": number, **SAFE})
        if ext_id is not None:
            with answered(update):
                answer = pbx.call("POST", "extension/update", json={"id": ext_id, **EDIT})
                update.differ(*differences(a.SUCCESS, answer))
                _read_back(pbx, update, ext_id, EDIT)
    finally:
        if ext_id is None:
            try:
                ext_id = _find(pbx, number)  # the create may have landed though it failed here
            except SyncError:
                ext_id = None
        if ext_id is not None:
            _delete(pbx, delete, ext_id, number)
    return [create, update, delete] if ext_id is not None else [create]


def _find(pbx: PbxClient, number: str) -> int | None:
    for row in pbx.rows("extension/search", {"search_value": number}):
        if str(row.get("number")) == number:
            return int(row["id"])
    return None


def _read_back(pbx: PbxClient, check: Check, ext_id: int, written: dict[str, Any]) -> None:
    answer = pbx.call("GET", "extension/get", params={"id": ext_id})
    check.differ(*differences(a.ONE, answer))
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    check.differ(*differences(a.EXTENSION_DETAIL, data, "data"))
    for name, value in written.items():
        if name not in data:
            if name not in a.EXTENSION_DETAIL.fields:
                check.note(f"{name} is not in extension/get's answer")
        elif data[name] != value:
            check.differ(f"data.{name}: {value!r} written, {str(data[name])[:40]!r} read back")


def _delete(pbx: PbxClient, check: Check, ext_id: int, number: str) -> None:
    with answered(check):
        check.differ(*differences(a.SUCCESS, pbx.call("GET", "extension/delete",
                                                      params={"id": ext_id})))
        try:
            pbx.call("GET", "extension/get", params={"id": ext_id})
        except PbxNotFoundError:
            pass
        else:
            check.differ("extension/get still finds the deleted extension: 60001 expected")
    if not check.same:
        check.differ(f"the test extension {number} may still exist: delete it on the PBX")
