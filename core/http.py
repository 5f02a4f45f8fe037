"""The transport both clients share: one `requests.Session`, timeouts, and bounded retries.

Retries use tenacity: 429, 500, 502, 503 and 504 answers and connection failures are retried
up to `attempts` times in all, waiting what `Retry-After` says (fractions too, as Graph sends
`2.128`) or an exponential backoff with jitter. A `Retry-After` longer than `max_wait` is not
slept through in-process: the `ThrottledError` carries it to the caller, whose job can be
rescheduled instead. A request that may have reached the server (read timeout on a POST) is
never sent twice.

Paged reads ask for their next page while the caller works on the one before (`read_ahead`):
one request in flight at a time, as before, with the caller's processing hidden behind it.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
import tenacity

from core.errors import ThrottledError, TransportError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
USER_AGENT = "entra-pbx-sync/0.1"
P = TypeVar("P")


def new_session(ca_bundle: str | None = None) -> requests.Session:
    """A session that ignores proxy and CA variables of the environment and trusts `ca_bundle`."""
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override `verify`
    session.verify = ca_bundle or True
    session.headers["User-Agent"] = USER_AGENT
    return session


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def read_ahead(first: P, following: Callable[[P], Callable[[], P] | None]) -> Iterator[P]:
    """`first` and the pages after it, in order; `following(page)` is how to read the page
    after `page` (None after the last). Each next page is read on a thread of its own, in the
    caller's context, while the caller handles the one before: still one request at a time.
    A read that fails raises where its page would have been yielded; a caller that stops
    early waits for the one read in flight, whose page is dropped."""
    page = first
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="page") as pool:
        while True:
            read_next = following(page)
            upcoming = (pool.submit(contextvars.copy_context().run, read_next)
                        if read_next is not None else None)
            yield page
            if upcoming is None:
                return
            page = upcoming.result()


class Transport:
    """Sends requests with timeouts and retries; returns every non-retryable response as is."""

    def __init__(self, session: requests.Session, *, timeout: float | tuple[float, float] = (5, 60),
                 attempts: int = 4, max_wait: float = 30.0, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.session = session
        self.timeout = timeout
        self.attempts = attempts
        self.max_wait = max_wait
        self.backoff = backoff
        self.sleep = sleep

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(self._retryable),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(self._send_once, method, url, **kwargs)

    def close(self) -> None:
        self.session.close()

    def _send_once(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            never_sent = isinstance(exc, requests.ConnectTimeout) or any(
                marker in repr(exc) for marker in ("NewConnectionError", "ConnectionRefused"))
            raise TransportError(method, url, type(exc).__name__,
                                 retryable=never_sent or method in IDEMPOTENT) from None
        except requests.Timeout as exc:
            raise TransportError(method, url, type(exc).__name__,
                                 retryable=method in IDEMPOTENT) from None
        if response.status_code in RETRY_STATUSES:
            raise ThrottledError(method, url, response.status_code, response.text,
                                 retry_after_seconds(response.headers.get("Retry-After")))
        return response

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, TransportError):
            return exc.retryable
        if isinstance(exc, ThrottledError):
            return exc.retry_after is None or exc.retry_after <= self.max_wait
        return False

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ThrottledError) and exc.retry_after is not None:
            return exc.retry_after
        backoff = tenacity.wait_exponential_jitter(multiplier=self.backoff, max=self.max_wait)
        return float(backoff(state))
