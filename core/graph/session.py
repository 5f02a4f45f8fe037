"""`GraphSession`: one Microsoft Graph v1.0 call with its token, the pages of a collection, and
many reads at once; the plumbing `GraphClient`'s reads are built on.

A 401 is answered with one fresh token, once. Collections are read as generators over pages,
following `@odata.nextLink` whole. Reads of one resource per object go 20 a request through
JSON batching (`core.graph.batch`), each to its last page or its error. Bodies are parsed at
this boundary (`load`): a shape we do not expect is a `GraphError`, not a KeyError later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlencode

from marshmallow import ValidationError

from core.errors import GraphError
from core.graph.batch import BATCH_LIMIT, Read, Result, read_batched, read_one_by_one
from core.graph.records import graph_error
from core.http import Transport, read_ahead

T = TypeVar("T")
PAGE_SIZE = 999


class TokenSource(Protocol):
    def token(self) -> str: ...
    def invalidate(self) -> None: ...


class GraphSession:
    """Authenticated calls to one Graph root, their pages, and batched reads."""

    def __init__(self, *, base_url: str, transport: Transport, token_source: TokenSource,
                 page_size: int = PAGE_SIZE, batching: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.token_source = token_source
        self.page_size = page_size
        self.batching = batching

    def request(self, method: str, path_or_url: str, *, params: dict[str, Any] | None = None,
                json: Any = None, headers: dict[str, str] | None = None) -> Any:
        """One call; returns the parsed JSON body (None when empty). Raises GraphError."""
        url = path_or_url if "://" in path_or_url else f"{self.base_url}/{path_or_url.lstrip('/')}"
        for attempt in (1, 2):
            auth = {"Authorization": f"Bearer {self.token_source.token()}"}
            response = self.transport.send(method, url, params=params, json=json,
                                           headers=auth | (headers or {}))
            if response.status_code == 401 and attempt == 1:
                self.token_source.invalidate()  # expired or revoked: one fresh token, once
                continue
            break
        if response.status_code >= 400:
            raise graph_error(method, url, response.status_code, response.text,
                              response.headers.get("Location"))
        return response.json() if response.content else None

    def pages(self, path: str, *, params: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following each nextLink as given; the next page is
        read while the caller handles the one before (`read_ahead`)."""

        def following(body: dict[str, Any]) -> Callable[[], Any] | None:
            link = body.get("@odata.nextLink")
            return (lambda: self.request("GET", link, headers=headers)) if link else None

        return read_ahead(self.request("GET", path, params=params, headers=headers), following)

    def items(self, path: str, *, params: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        for page in self.pages(path, params=params, headers=headers):
            yield from page.get("value", [])

    def read_many(self, reads: Sequence[Read]) -> dict[str, Result]:
        """Many GETs, each to its last page or its error (`core.graph.batch`): 20 a `$batch`,
        or one request each when the client was made with `batching=False`."""
        return read_batched(self, reads) if self.batching else read_one_by_one(self, reads)

    def batch(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run requests 20 at a time through `$batch`; answers in the order asked."""
        answers: dict[str, dict[str, Any]] = {}
        for start in range(0, len(requests), BATCH_LIMIT):
            chunk = requests[start : start + BATCH_LIMIT]
            body = self.request("POST", "$batch", json={"requests": chunk})
            answers |= {str(r["id"]): r for r in body.get("responses", [])}
        return [answers[str(r["id"])] for r in requests]


def query(params: dict[str, str]) -> str:
    """A query string as Graph's pages write it: `$` and `,` left readable."""
    return urlencode(params, quote_via=quote, safe="$,'()")


def load(parse: Callable[[dict[str, Any]], T], raw: dict[str, Any], what: str) -> T:
    """`parse(raw)`; a body that does not parse is a GraphError naming `what` it should be."""
    try:
        return parse(raw)
    except ValidationError as exc:
        raise GraphError("GET", "(response body)", 200, str(raw)[:200], "UnexpectedShape",
                         f"a {what} did not parse: {exc.messages}") from None
