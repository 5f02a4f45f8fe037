"""`PbxClient`: the Yeastar P-Series OpenAPI calls the product makes.

Every answer is HTTP 200 with an `errcode`; the client turns non-zero codes into typed errors,
logs in again once on 10004 (token expired), and backs off on 70082 (PBX busy). Lists are read
page by page until `total_number` rows have come.

The client is shared by threads: one session whose connection pool holds `MAX_WIDTH`
connections to the PBX, one token source that refreshes one at a time. Every answer (and
every 5xx or timeout, retried or not) is reported to the `AdaptiveLimit` governing the thread
(core/pbx/concurrency.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import requests
import tenacity
from requests.adapters import HTTPAdapter

from core.errors import PbxDuplicateError, PbxError, PbxLimitError, PbxNotFoundError
from core.http import Transport, read_ahead
from core.pbx import concurrency
from core.pbx.auth import PbxTokenSource
from core.pbx.concurrency import AdaptiveLimit, run_bounded
from core.pbx.records import Extension, ExtensionGroup, Organization, parse_extension

API = "openapi/v1.0"
PAGE_SIZE = 1000
QUERY_CHUNK = 100
_ERRORS = {40003: PbxDuplicateError, 60001: PbxNotFoundError, 60002: PbxLimitError}
# Answers that ask for fewer requests at once: 70082 OVERLOAD_TASK_RUNNING, and -2 INTERNAL
# SERVER ERROR, the errcode form of a 5xx. Not 60002: a quantity used up is not a rate.
SLOWDOWN_ERRCODES = frozenset({70082, -2})


class _ReportingAdapter(HTTPAdapter):
    """Reports every 5xx, 429 and timeout of every attempt, retried or not, as a slowdown."""

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        try:
            response = super().send(request, *args, **kwargs)
        except requests.Timeout:
            concurrency.report_slowdown()
            raise
        if response.status_code >= 500 or response.status_code == 429:
            concurrency.report_slowdown()
        return response


class _Page(NamedTuple):
    number: int
    seen: int  # rows read up to and with this page
    total: int  # the answer's `total_number`
    rows: list[dict[str, Any]]


class PbxClient:
    """Extensions, extension groups, company contacts and phonebooks."""

    def __init__(self, *, base_url: str, transport: Transport, token_source: PbxTokenSource,
                 page_size: int = PAGE_SIZE, busy_attempts: int = 4) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.token_source = token_source
        self.page_size = page_size
        self.busy_attempts = busy_attempts
        session = getattr(transport, "session", None)
        if isinstance(session, requests.Session):  # the pool holds the widest width allowed
            session.mount(f"{self.base_url}/", _ReportingAdapter(
                pool_maxsize=concurrency.MAX_WIDTH))

    # plumbing ----------------------------------------------------------------------------
    def call(self, method: str, endpoint: str, *, params: dict[str, Any] | None = None,
             json: Any = None) -> dict[str, Any]:
        """One call with the envelope checked; raises a PbxError subclass on a non-zero errcode."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.busy_attempts),
            wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=8),
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, PbxError)
                                              and e.errcode == 70082),
            sleep=self.transport.sleep, reraise=True)
        return dict(retrying(self._call_once, method, endpoint, params, json))

    def _call_once(self, method: str, endpoint: str, params: dict[str, Any] | None,
                   json: Any) -> dict[str, Any]:
        url = f"{self.base_url}/{API}/{endpoint}"
        for attempt in (1, 2):
            token = self.token_source.token()
            response = self.transport.send(method, url, params={**(params or {}),
                                                                "access_token": token}, json=json)
            try:
                answer = response.json()
            except ValueError:
                answer = {"errcode": -2, "errmsg": f"HTTP {response.status_code}, not JSON"}
            if answer.get("errcode") == 10004 and attempt == 1:
                self.token_source.invalidate(token)
                continue
            break
        if response.status_code >= 500:
            pass  # reported by the adapter already
        elif answer.get("errcode") in SLOWDOWN_ERRCODES:
            concurrency.report_slowdown()
        else:
            concurrency.report_success()
        if answer.get("errcode") != 0:
            cls = _ERRORS.get(int(answer.get("errcode", -1)), PbxError)
            raise cls(method, url, answer, response.text)
        return dict(answer)

    def rows(self, endpoint: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every row of a list or search endpoint, page by page until `total_number` rows
        have come; the next page is read while the caller handles the one before."""

        def read(page: int, seen: int) -> _Page:
            answer = self.call("GET", endpoint, params={**(params or {}), "page": page,
                                                        "page_size": self.page_size})
            data = answer.get("data") or []
            return _Page(page, seen + len(data), int(answer.get("total_number", 0)), data)

        def following(last: _Page) -> Callable[[], _Page] | None:
            if not last.rows or last.seen >= last.total:
                return None
            return lambda: read(last.number + 1, last.seen)

        for page in read_ahead(read(1, 0), following):
            yield from page.rows

    # extensions --------------------------------------------------------------------------
    def extensions(self) -> Iterator[Extension]:
        for row in self.rows("extension/list", {"sort_by": "id", "order_by": "asc"}):
            yield parse_extension(row)

    def extension_details(self, ids: list[int], *,
                          limit: AdaptiveLimit | None = None) -> list[Extension]:
        """Full detail of `ids`, 100 a call, the calls `limit` allows at once (else one)."""
        chunks = [ids[start : start + QUERY_CHUNK] for start in range(0, len(ids), QUERY_CHUNK)]

        def query(chunk: list[int]) -> list[Extension]:
            answer = self.call("GET", "extension/query", params={"ids": ",".join(map(str, chunk))})
            return [parse_extension(row) for row in answer.get("data") or []]

        return [ext for found in run_bounded(chunks, query, limit or AdaptiveLimit(1))
                for ext in found]

    def get_extension(self, extension_id: int) -> Extension:
        return parse_extension(self.call("GET", "extension/get", params={"id": extension_id})["data"])

    def find_extension(self, number: str) -> Extension | None:
        for row in self.rows("extension/search", {"search_value": number}):
            if row.get("number") == number:
                return parse_extension(row)
        return None

    def create_extension(self, fields: dict[str, Any], *, resolve_id: bool = True) -> int | None:
        """Create an extension; returns its id.

        The documents do not say that `extension/create` returns an id. When it does not, the
        new extension is found by number, unless `resolve_id` is False: then None is returned
        and the caller resolves many new ids with one listing (`extension_ids_by_number`).
        """
        answer = self.call("POST", "extension/create", json={"type": "SIP", **fields})
        if "id" in answer:
            return int(answer["id"])
        if not resolve_id:
            return None
        created = self.find_extension(str(fields["number"]))
        if created is None:
            raise PbxError("POST", f"{self.base_url}/{API}/extension/create",
                           {"errcode": -1, "errmsg": "created extension not found by number"}, "")
        return created.id

    def extension_ids_by_number(self) -> dict[str, int]:
        return {e.number: e.id for e in self.extensions()}

    def update_extension(self, extension_id: int, fields: dict[str, Any]) -> None:
        self.call("POST", "extension/update", json={"id": extension_id, **fields})

    def delete_extension(self, extension_id: int) -> None:
        self.call("GET", "extension/delete", params={"id": extension_id})

    def send_welcome_email(self, extension_ids: list[int]) -> None:
        self.call("POST", "extension/send_welcome_email", json={"id_list": extension_ids})

    # organizations -----------------------------------------------------------------------
    def organizations(self) -> list[Organization]:
        """Every organization, parents first (Query Organization List, `is_all=2`: no members).

        The tree comes whole in one answer: the page documents no `total_number` to page by.
        """
        answer = self.call("GET", "organization/list", params={"is_all": 2})
        found: list[Organization] = []

        def walk(nodes: list[dict[str, Any]], parent: str) -> None:
            for node in nodes or []:
                path = f"{parent}/{node['name']}" if parent else str(node["name"])
                found.append(Organization(int(node["id"]), str(node["name"]), path))
                walk(node.get("children") or [], path)

        walk(answer.get("organization_list") or [], "")
        return found

    # extension groups --------------------------------------------------------------------
    def extension_groups(self) -> Iterator[ExtensionGroup]:
        ids = [int(row["id"]) for row in self.rows("extensiongroup/list")]
        for start in range(0, len(ids), QUERY_CHUNK):
            chunk = ",".join(map(str, ids[start : start + QUERY_CHUNK]))
            for raw in self.call("GET", "extensiongroup/query", params={"ids": chunk})["data"]:
                yield ExtensionGroup(int(raw["id"]), str(raw["name"]), str(raw["member_select"]),
                                     tuple(int(m["ext_id"]) for m in raw.get("members") or []))

    def create_extension_group(self, name: str, member_ids: list[int]) -> int:
        answer = self.call("POST", "extensiongroup/create", json={
            "name": name, "member_select": "sel_specific", "members": _members(member_ids)})
        if "id" in answer:
            return int(answer["id"])
        for row in self.rows("extensiongroup/search", {"search_value": name}):
            if row.get("name") == name:
                return int(row["id"])
        raise PbxError("POST", f"{self.base_url}/{API}/extensiongroup/create",
                       {"errcode": -1, "errmsg": "created group not found by name"}, "")

    def update_extension_group(self, group_id: int, *, name: str | None = None,
                               member_ids: list[int] | None = None) -> None:
        body: dict[str, Any] = {"id": group_id}
        if name is not None:
            body["name"] = name
        if member_ids is not None:
            body |= {"member_select": "sel_specific", "members": _members(member_ids)}
        self.call("POST", "extensiongroup/update", json=body)

    def delete_extension_group(self, group_id: int) -> None:
        self.call("GET", "extensiongroup/delete", params={"id": group_id})

    # company contacts and phonebooks -----------------------------------------------------
    def company_contacts(self) -> Iterator[dict[str, Any]]:
        yield from self.rows("company_contact/list")

    def create_company_contact(self, fields: dict[str, Any]) -> int:
        return int(self.call("POST", "company_contact/create", json=fields)["id"])

    def update_company_contact(self, contact_id: int, fields: dict[str, Any]) -> None:
        self.call("POST", "company_contact/update", json={"id": contact_id, **fields})

    def delete_company_contact(self, contact_id: int) -> None:
        self.call("GET", "company_contact/delete", params={"id": contact_id})

    def phonebooks(self) -> Iterator[dict[str, Any]]:
        yield from self.rows("phonebook/list")

    def create_phonebook(self, name: str) -> int:
        return int(self.call("POST", "phonebook/create",
                             json={"name": name, "member_select": "sel_specific"})["id"])

    def update_phonebook(self, phonebook_id: int, *, add: Sequence[int] = (),
                         remove: Sequence[int] = ()) -> None:
        self.call("POST", "phonebook/update", json={"id": phonebook_id,
                                                    "add_contacts_id_list": list(add),
                                                    "del_contacts_id_list": list(remove)})

    def rename_phonebook(self, phonebook_id: int, name: str) -> None:
        self.call("POST", "phonebook/update", json={"id": phonebook_id, "name": name})

    def delete_phonebook(self, phonebook_id: int) -> None:
        self.call("GET", "phonebook/delete", params={"id": phonebook_id})


def _members(member_ids: list[int]) -> list[dict[str, Any]]:
    return [{"ext_id": ext_id, "user_type": "user"} for ext_id in member_ids]
