"""The baseline of a no-op user re-sync: a bare read of both sides, the same requests as the
product's read, with none of its processing.

Plain `requests` with the JSON of each answer decoded and nothing else, the two sides side by
side as the product reads them: Graph's users, deleted users and the `$deltatoken=latest`
link, each page after the one before (a nextLink can only be followed once it is known),
while the PBX's `extension/list` pages are read in turn and then the details of the linked
extensions, 100 ids an `extension/query`, `width` queries at once on a pool of threads.
Tokens are taken from the product's clients before the clock starts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from core.graph.client import PAGE_SIZE, GraphClient
from core.pbx.client import PAGE_SIZE as PBX_PAGE
from core.pbx.client import QUERY_CHUNK as QUERY_IDS
from core.pbx.client import PbxClient


def bare_read(graph: GraphClient, pbx: PbxClient, *, select: tuple[str, ...],
              linked: set[int], width: int, ca_bundle: str) -> int:
    """Read both sides as the no-op re-sync does; returns the extensions detailed."""
    graph_token, pbx_token = graph.token_source.token(), pbx.token_source.token()
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", HTTPAdapter(pool_maxsize=max(16, width)))
    session.mount("https://", HTTPAdapter(pool_maxsize=16))
    auth = {"Authorization": f"Bearer {graph_token}"}
    fields = ",".join(select)
    api = f"{pbx.base_url}/openapi/v1.0"

    def list_pbx() -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = []
        page = 1
        while True:
            body = _get(session, f"{api}/extension/list", {
                "sort_by": "id", "order_by": "asc", "page": page, "page_size": PBX_PAGE,
                "access_token": pbx_token}, {}, None)
            rows = body.get("data") or []
            listed += rows
            if not rows or len(listed) >= int(body.get("total_number", 0)):
                return listed
            page += 1

    def query(chunk: list[int]) -> int:
        answer = _get(session, f"{api}/extension/query", {
            "ids": ",".join(map(str, chunk)), "access_token": pbx_token}, {}, None)
        return len(answer.get("data") or [])

    def read_pbx() -> int:
        wanted = sorted(int(row["id"]) for row in list_pbx() if int(row["id"]) in linked)
        chunks = [wanted[i:i + QUERY_IDS] for i in range(0, len(wanted), QUERY_IDS)]
        with ThreadPoolExecutor(max_workers=width) as pool:
            return sum(pool.map(query, chunks))

    with ThreadPoolExecutor(max_workers=1) as side:
        pbx_side = side.submit(read_pbx)
        for path, params in (("users", {"$select": fields, "$top": str(PAGE_SIZE)}),
                             ("directory/deletedItems/microsoft.graph.user",
                              {"$select": fields, "$top": str(PAGE_SIZE)}),
                             ("users/delta", {"$select": fields, "$deltatoken": "latest"})):
            body = _get(session, f"{graph.base_url}/{path}", params, auth, ca_bundle)
            while body.get("@odata.nextLink"):
                body = _get(session, body["@odata.nextLink"], None, auth, ca_bundle)
        detailed = pbx_side.result()
    session.close()
    return detailed


def _get(session: requests.Session, url: str, params: dict[str, Any] | None,
         headers: dict[str, str], verify: str | None) -> dict[str, Any]:
    response = session.get(url, params=params, headers={"User-Agent": "bench", **headers},
                           verify=verify if verify else True, timeout=60)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body
