"""Many GET reads through JSON batching: `POST /$batch`, at most 20 requests a batch.

Graph answers each inner request on its own, in any order, and throttles each on its own: one
can be a 429 with its own `Retry-After` while the others succeed. So each read is followed
until it is whole or has failed:

- an answer's `@odata.nextLink` (an absolute URL) is asked for in a later batch, to the last
  page; a link to another host is followed with plain GETs;
- a 429, 500, 502, 503 or 504 answer is asked again (only that request) once the longest
  `Retry-After` among those waiting has passed, or the transport's backoff when none was
  given, up to the transport's `attempts` in all; a `Retry-After` above its `max_wait` is not
  waited for in-process (the caller's job can be rescheduled instead), as with one request;
- what still fails, and every other error answer, is that read's error: the `ThrottledError`
  or `GraphError` the same single request would have raised (method, URL, status, body,
  `retry_after`), for the caller to raise or to report per item.

A failure of the batch request itself (no token, Graph unreachable, the batch refused) is
raised: it concerns every read in it. A read is all its pages or an error, never a part.

Up to `BATCHES_AT_ONCE` batches are in flight at once, each of different reads (a thousand
mailboxes are 50 batches; one after another they would wait 50 round trips). Graph throttles
the requests of a batch one by one, as if sent alone, so four batches at once are eighty
requests at once to the tenant, each to its own mailbox or group: within Outlook's four
concurrent requests per mailbox, and the 429s that do come are asked again as above.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from core.errors import ApiError, GraphError, ThrottledError
from core.graph.records import graph_error
from core.http import RETRY_STATUSES, retry_after_seconds

if TYPE_CHECKING:
    from core.graph.client import GraphClient

BATCH_LIMIT = 20  # "JSON batch requests are currently limited to 20 individual requests."
BATCHES_AT_ONCE = 4


@dataclass(frozen=True)
class Read:
    """One GET. `path` is relative to the version root, query included (`/users/{id}/contacts
    ?$top=1000`); `whole` follows its nextLinks to the last page."""

    key: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    whole: bool = True


@dataclass(frozen=True)
class Result:
    """The pages of one read, or the error that ended it."""

    pages: tuple[dict[str, Any], ...] = ()
    error: ApiError | None = None

    def body(self) -> dict[str, Any]:
        """The first page; raises the read's error."""
        if self.error is not None:
            raise self.error
        return self.pages[0]

    def values(self) -> list[dict[str, Any]]:
        """The `value` items of every page; raises the read's error."""
        if self.error is not None:
            raise self.error
        return [item for page in self.pages for item in page.get("value", [])]


@dataclass(frozen=True)
class _Ask:
    read: Read
    path: str  # the page asked for now
    attempt: int = 1


def read_batched(graph: GraphClient, reads: Sequence[Read], *, size: int = BATCH_LIMIT,
                 at_once: int | None = None) -> dict[str, Result]:
    """Every read, `size` inner requests a batch, up to `at_once` (`BATCHES_AT_ONCE`) batches at
    a time; results by key, in the order of `reads`."""
    _unique(reads)
    at_once = at_once or BATCHES_AT_ONCE
    pages: dict[str, list[dict[str, Any]]] = {r.key: [] for r in reads}
    errors: dict[str, ApiError] = {}
    ready = deque(_Ask(r, _rooted(r.path)) for r in reads)
    waiting: list[_Ask] = []
    due = 0.0
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="graph-batch") as pool:
        while ready or waiting:
            if not ready:  # only throttled requests are left: wait for the longest Retry-After
                graph.transport.sleep(max(0.0, due - time.monotonic()))
                ready.extend(waiting)
                waiting.clear()
            chunks = []
            while ready and len(chunks) < at_once:
                chunks.append([ready.popleft() for _ in range(min(size, len(ready)))])
            for chunk, answers in zip(chunks, _send_all(graph, chunks, pool), strict=True):
                due = _take(graph, chunk, answers, pages, errors, ready, waiting, due)
    return {r.key: Result(error=errors[r.key]) if r.key in errors
            else Result(pages=tuple(pages[r.key])) for r in reads}


def _send_all(graph: GraphClient, chunks: list[list[_Ask]],
              pool: ThreadPoolExecutor) -> list[list[dict[str, Any]]]:
    """Each chunk as one batch, side by side; the answers in the order of `chunks`."""
    if len(chunks) == 1:
        return [_send(graph, chunks[0])]
    return list(pool.map(lambda chunk: _send(graph, chunk), chunks))


def _take(graph: GraphClient, chunk: list[_Ask], answers: list[dict[str, Any]],
          pages: dict[str, list[dict[str, Any]]], errors: dict[str, ApiError],
          ready: deque[_Ask], waiting: list[_Ask], due: float) -> float:
    """Keep one batch's answers: pages kept and their next pages made ready, throttled asks
    set waiting; returns when the waiting may be asked again."""
    for ask, answer in zip(chunk, answers, strict=True):
        key, url = ask.read.key, graph.base_url + ask.path
        status = int(answer.get("status") or 0)
        if 200 <= status < 300:
            following = _page(graph, ask, answer, pages[key], errors)
            if following is not None:
                ready.append(following)
        elif status in RETRY_STATUSES:
            wait = retry_after_seconds(_header(answer, "Retry-After"))
            if ask.attempt >= graph.transport.attempts or (
                    wait is not None and wait > graph.transport.max_wait):
                errors[key] = ThrottledError("GET", url, status, _text(answer), wait)
                continue
            pause = wait if wait is not None else backoff(graph.transport, ask.attempt)
            due = max(due, time.monotonic() + pause)
            waiting.append(replace(ask, attempt=ask.attempt + 1))
        else:
            errors[key] = graph_error("GET", url, status, _text(answer),
                                      _header(answer, "Location"))
    return due


def read_one_by_one(graph: GraphClient, reads: Sequence[Read]) -> dict[str, Result]:
    """Every read with plain requests, one (and one a page) after another."""
    _unique(reads)
    results = {}
    for read in reads:
        try:
            found = [graph.request("GET", _rooted(read.path), headers=dict(read.headers))]
            while read.whole and found[-1].get("@odata.nextLink"):
                found.append(graph.request("GET", found[-1]["@odata.nextLink"],
                                           headers=dict(read.headers)))
            results[read.key] = Result(pages=tuple(found))
        except ApiError as exc:
            results[read.key] = Result(error=exc)
    return results


def backoff(transport: Any, attempt: int) -> float:
    """The wait before attempt `attempt + 1` when the answer named none."""
    return float(min(transport.max_wait, transport.backoff * 2 ** (attempt - 1)))


def _send(graph: GraphClient, chunk: list[_Ask]) -> list[dict[str, Any]]:
    """One batch; each ask's answer, in the order asked (Graph answers in any order)."""
    requests = []
    for n, ask in enumerate(chunk):
        item: dict[str, Any] = {"id": str(n), "method": "GET", "url": ask.path}
        if ask.read.headers:
            item["headers"] = dict(ask.read.headers)
        requests.append(item)
    body = graph.request("POST", "$batch", json={"requests": requests}) or {}
    answers = {str(a.get("id")): a for a in body.get("responses") or [] if isinstance(a, dict)}
    missing = {"status": 502, "body": {"error": {
        "code": "NoBatchAnswer", "message": "the batch answered nothing for this request"}}}
    return [answers.get(str(n), missing) for n in range(len(chunk))]


def _page(graph: GraphClient, ask: _Ask, answer: dict[str, Any], pages: list[dict[str, Any]],
          errors: dict[str, ApiError]) -> _Ask | None:
    """Keep one page; the ask for the next, when there is one and it can go in a batch."""
    key, body = ask.read.key, answer.get("body")
    if not isinstance(body, dict):
        errors[key] = GraphError("GET", graph.base_url + ask.path, int(answer["status"]),
                                 str(body)[:200], "UnexpectedShape", "the answer is no object")
        return None
    pages.append(body)
    link = body.get("@odata.nextLink") if ask.read.whole else None
    if not link:
        return None
    if str(link).startswith(graph.base_url + "/"):
        return _Ask(ask.read, str(link)[len(graph.base_url):])
    try:  # a link to elsewhere cannot be batched here: read the rest of it directly
        rest = graph.pages(str(link), headers=dict(ask.read.headers))
        pages.extend(rest)
    except ApiError as exc:
        errors[key] = exc
    return None


def _header(answer: dict[str, Any], name: str) -> str | None:
    headers = answer.get("headers") or {}
    found = [v for k, v in headers.items() if k.lower() == name.lower()]
    return str(found[0]) if found else None


def _text(answer: dict[str, Any]) -> str:
    body = answer.get("body")
    return body if isinstance(body, str) else json.dumps(body)


def _rooted(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def _unique(reads: Sequence[Read]) -> None:
    if len({r.key for r in reads}) != len(reads):
        raise ValueError("each read needs its own key")
