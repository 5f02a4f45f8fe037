"""Per-address limits on what costs or guesses: `/sso/login` (each one starts a flow kept in
Redis) and failed admin tokens (a guess). Fixed one-minute windows, counted in Redis so every
web process shares them; over the limit answers 429 with `Retry-After`.

The address is the peer's (`request.remote_addr`): behind a reverse proxy every client has the
proxy's address, so the limits then hold for all clients together.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Response, current_app, jsonify, request

from core.store.keys import Keys

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Limit:
    bucket: str
    per_window: int


SSO_LOGIN = Limit("sso-login", 10)
ADMIN_FAILURES = Limit("admin-failures", 10)


class Limiter:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys

    def hit(self, limit: Limit, address: str) -> int | None:
        """Count one for `address`; the seconds to wait when this one is over the limit."""
        key = self.keys.rate(limit.bucket, address)
        pipe = self.redis.pipeline()
        pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)  # the window starts with its first count
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = pipe.execute()
        return max(int(ttl), 1) if int(count) > limit.per_window else None

    def wait(self, limit: Limit, address: str) -> int | None:
        """The seconds to wait when `address` used up its limit already (counts nothing)."""
        key = self.keys.rate(limit.bucket, address)
        pipe = self.redis.pipeline()
        pipe.get(key)
        pipe.ttl(key)
        count, ttl = pipe.execute()
        return max(int(ttl), 1) if int(count or 0) >= limit.per_window else None


def address() -> str:
    return request.remote_addr or "unknown"


def limiter() -> Limiter:
    return current_app.extensions["limiter"]


def too_many(retry_after: int, what: str) -> tuple[Response, int]:
    """The JSON 429 of the admin API."""
    answer = jsonify(error=f"too many {what} from your address: try again in {retry_after} s")
    answer.headers["Retry-After"] = str(retry_after)
    return answer, 429
