"""The PBX half of the probe: the OpenAPI reads the product makes, compared with `assumptions`.

It logs in once more to see `get_token`'s answer and revokes that token at once (the PBX allows
8 live tokens per API client). It never sends a wrong secret or a made-up token: five failed
authentications would put this address on the PBX's blocklist (yeastar.md §2.4).
"""

from __future__ import annotations

from typing import Any

from core.errors import PbxError, PbxNotFoundError, SyncError
from core.pbx.client import API, PbxClient
from core.probe import assumptions as a
from core.probe.compare import differences, each, values_seen
from core.probe.report import Check, answered, refusal

PAGE_SIZE = 1000  # core/pbx/client.py
QUERIED = 3


class PbxProbe:
    def __init__(self, pbx: PbxClient, *, client_id: str, client_secret: str) -> None:
        self.pbx = pbx
        self._login = {"username": client_id, "password": client_secret}
        self.listed: dict[str, list[dict[str, Any]]] = {}

    def run(self) -> list[Check]:
        checks = [self.get_token()]
        if not checks[0].same:
            return checks
        checks += [self.extension_list(), self.extension_paging(), self.extension_search(),
                   self.extension_query(), self.extension_get(), self.unknown_extension(),
                   *self.groups(), self.listing("company_contact/list", a.CONTACT_ROW),
                   self.listing("phonebook/list", a.PHONEBOOK_ROW)]
        return checks

    @property
    def extensions(self) -> list[dict[str, Any]]:
        return self.listed.get("extension/list", [])

    def call(self, method: str, endpoint: str, params: dict[str, Any] | None = None,
             json: Any = None) -> dict[str, Any]:
        return self.pbx.call(method, endpoint, params=params, json=json)

    def listing(self, endpoint: str, item: a.Shape,
                params: dict[str, Any] | None = None) -> Check:
        """A list endpoint's first page (the product's page size), compared row by row."""
        check = Check(f"pbx {endpoint}", f"GET {endpoint}?page=1&page_size={PAGE_SIZE}",
                      f"{a.LIST.source}; {item.source}")
        with answered(check):
            rows = self.listed[endpoint] = self.rows(check, endpoint, item, params)
            if not rows:
                check.note("no rows: their shape was not checked")
        return check

    def rows(self, check: Check, endpoint: str, item: a.Shape,
             params: dict[str, Any] | None = None, page: int = 1,
             size: int = PAGE_SIZE) -> list[dict[str, Any]]:
        answer = self.call("GET", endpoint, {**(params or {}), "page": page, "page_size": size})
        check.differ(*differences(a.LIST, answer))
        rows = answer.get("data") if isinstance(answer.get("data"), list) else []
        check.differ(*each(item, rows, "data[]"))
        total = answer.get("total_number")
        if page == 1 and isinstance(total, int) and total <= size and total != len(rows):
            check.differ(f"total_number {total} but {len(rows)} rows on a page of {size}")
        return [r for r in rows if isinstance(r, dict)]

    # token ---------------------------------------------------------------------------------
    def get_token(self) -> Check:
        check = Check("pbx get_token", "POST get_token, then GET del_token of that token",
                      f"{a.TOKEN.source}; yeastar.md §2.3")
        url = f"{self.pbx.base_url}/{API}"
        with answered(check):
            answer = _json(self.pbx.transport.send("POST", f"{url}/get_token", json=self._login))
            if isinstance(answer, dict) and answer.get("errcode") not in (0, None):
                check.differ(f"errcode {answer.get('errcode')} {answer.get('errmsg')}: no token")
                return check
            check.differ(*differences(a.TOKEN, answer))
            if not isinstance(answer, dict) or not answer.get("access_token"):
                return check
            revoked = _json(self.pbx.transport.send("GET", f"{url}/del_token", params={
                "access_token": answer.get("access_token")}))
            check.differ(*differences(a.SUCCESS, revoked, "del_token"))
        return check

    # extensions ----------------------------------------------------------------------------
    def extension_list(self) -> Check:
        check = self.listing("extension/list", a.EXTENSION_ROW, {"sort_by": "id", "order_by": "asc"})
        if self.extensions:
            check.note("presence_status seen: "
                       + ", ".join(values_seen(self.extensions, "presence_status")))
        return check

    def extension_paging(self) -> Check:
        check = Check("pbx extension/list paging", "GET extension/list?page=2&page_size=1",
                      "yeastar.md §5 (page, page_size, total_number)")
        if len(self.extensions) < 2:
            check.note("fewer than 2 extensions: paging not exercised")
            return check
        with answered(check):
            params = {"sort_by": "id", "order_by": "asc"}
            second = self.rows(check, "extension/list", a.EXTENSION_ROW, params, page=2, size=1)
            if [r.get("id") for r in second] != [self.extensions[1].get("id")]:
                check.differ("page 2 of size 1 is not the second extension by id")
        return check

    def extension_search(self) -> Check:
        check = Check("pbx extension/search", "GET extension/search?search_value={number}",
                      a.EXTENSION_ROW.source)
        if not self.extensions:
            check.note("no extension to search for")
            return check
        number = self.extensions[0].get("number")
        with answered(check):
            rows = self.rows(check, "extension/search", a.EXTENSION_ROW, {"search_value": number})
            if number not in [r.get("number") for r in rows]:
                check.differ("the extension searched for by its number is missing")
        return check

    def extension_query(self) -> Check:
        check = Check("pbx extension/query", "GET extension/query?ids=…",
                      f"{a.MANY.source}; {a.EXTENSION_DETAIL.source}")
        wanted = {r.get("id"): r.get("number") for r in self.extensions[:QUERIED]}
        if not wanted:
            check.note("no extension to query")
            return check
        with answered(check):
            answer = self.call("GET", "extension/query",
                               {"ids": ",".join(str(i) for i in wanted)})
            check.differ(*differences(a.MANY, answer))
            rows = answer.get("data") if isinstance(answer.get("data"), list) else []
            check.differ(*each(a.EXTENSION_DETAIL, rows, "data[]"))
            got = {r.get("id"): r.get("number") for r in rows if isinstance(r, dict)}
            if got != wanted:
                check.differ("the details do not match the listed ids and numbers")
        return check

    def extension_get(self) -> Check:
        check = Check("pbx extension/get", "GET extension/get?id=…",
                      f"{a.ONE.source}; {a.EXTENSION_DETAIL.source}")
        if not self.extensions:
            check.note("no extension to read")
            return check
        with answered(check):
            answer = self.call("GET", "extension/get", {"id": self.extensions[0].get("id")})
            check.differ(*differences(a.ONE, answer))
            check.differ(*differences(a.EXTENSION_DETAIL, answer.get("data"), "data"))
        return check

    def unknown_extension(self) -> Check:
        expected = a.EXTENSION_NOT_FOUND
        check = Check("pbx extension/get unknown id", "GET extension/get?id={an unused id}",
                      expected.source)
        unused = max([int(r["id"]) for r in self.extensions if isinstance(r.get("id"), int)],
                     default=0) + 100_000
        try:
            self.call("GET", "extension/get", {"id": unused})
        except PbxNotFoundError:
            pass
        except PbxError as exc:
            check.differ(f"errcode {exc.errcode} {exc.errmsg}: {expected.errcode} expected")
        except SyncError as exc:
            check.differ(refusal(exc))
        else:
            check.differ(f"errcode 0 for an id no extension has: {expected.errcode} expected")
        return check

    # extension groups ----------------------------------------------------------------------
    def groups(self) -> list[Check]:
        listed = self.listing("extensiongroup/list", a.GROUP_ROW)
        query = Check("pbx extensiongroup/query", "GET extensiongroup/query?ids=…",
                      f"{a.MANY.source}; {a.GROUP_DETAIL.source}")
        with answered(query):
            ids = [r.get("id") for r in self.listed.get("extensiongroup/list", [])][:100]
            if not ids:
                query.note("no extension group to query")
                return [listed, query]
            answer = self.call("GET", "extensiongroup/query", {"ids": ",".join(map(str, ids))})
            query.differ(*differences(a.MANY, answer))
            rows = [r for r in answer.get("data") or [] if isinstance(r, dict)]
            query.differ(*each(a.GROUP_DETAIL, rows, "data[]"))
            members = [m for r in rows for m in r.get("members") or []]
            query.note(f"{len(members)} members in {len(rows)} groups" if members else
                       "no group with listed members: the member format was not checked")
        return [listed, query]


def _json(response: Any) -> Any:
    """The answer's JSON; an answer that is not JSON is one the envelope check will refuse."""
    try:
        return response.json()
    except ValueError:
        return f"HTTP {response.status_code}, not JSON"
