"""Fixtures: the simulators served on 127.0.0.1 free ports, and clients pointed at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from core.clients import graph_client, pbx_client, sandbox_environment
from core.config import Settings
from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from sandbox.runner import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=0) as running:
        yield running


@pytest.fixture
def settings(sandbox: Sandbox) -> Settings:
    env = sandbox_environment(sandbox.describe()) | {"SECRET_KEY": "conftest-key-Vn2Xq7Kw4Lz9Rd1Tm6Hs3Bp8Jc"}
    return Settings.from_env(env)


@pytest.fixture
def graph(settings: Settings) -> GraphClient:
    client = graph_client(settings)
    client.transport.backoff = 0.01
    return client


@pytest.fixture
def pbx(settings: Settings) -> Iterator[PbxClient]:
    client = pbx_client(settings)
    client.transport.backoff = 0.01
    yield client
    client.token_source.close()


class Control:
    """The `/_sandbox` endpoints of one simulator, over real HTTP."""

    def __init__(self, base_url: str, ca_bundle: str | None = None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = ca_bundle or True

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.session.post(f"{self.base_url}/_sandbox/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def fault(self, **fault: Any) -> None:
        self.post("faults", fault)

    def advance(self, seconds: float) -> None:
        self.post("clock", {"advance_seconds": seconds})

    def counts(self) -> dict[str, int]:
        body = self.session.get(f"{self.base_url}/_sandbox/requests", timeout=10).json()
        return dict(body["by_method_path"])

    def get(self, path: str) -> Any:
        return self.session.get(f"{self.base_url}/_sandbox/{path}", timeout=10).json()


@pytest.fixture
def graph_control(sandbox: Sandbox) -> Control:
    return Control(sandbox.graph.url, str(sandbox.cert_path))


@pytest.fixture
def pbx_control(sandbox: Sandbox) -> Control:
    return Control(sandbox.pbx.url)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A real redis-server for the session, on a free port."""
    from sandbox.redis_server import RedisServer

    with RedisServer() as server:
        yield server


@pytest.fixture
def state(redis_server: Any) -> Iterator[Any]:
    """A StateStore on the real Redis, emptied after the test."""
    import redis

    from core.store.redis import StateStore

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield StateStore(client)
    client.flushdb()
    client.close()


@pytest.fixture
def broker() -> Any:
    """Dramatiq's stub broker with the product's queue: messages the web app sends, in memory."""
    from dramatiq.brokers.stub import StubBroker

    stub = StubBroker()
    stub.declare_queue("default")
    return stub
