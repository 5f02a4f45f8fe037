"""One seeded sandbox in its own process and one real Redis, with the product's clients on them.

The benches of the user and contact syncs build a fresh `Rig` for every cold sync, so each
starts from an empty PBX. The simulators serve each request on a thread of a pool
(sandbox/serve.py, connections kept alive), so requests sent side by side wait their latency
side by side. `sync()` runs a part as the worker does (workers/jobs.py): under the fenced sync
lock, checked before each PBX write.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests

from core.clients import graph_client, pbx_client, sandbox_environment
from core.config import Settings
from core.engine.engine import Context, Part, execute
from core.engine.lock import FencedLock
from core.engine.runs import Run
from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.store.redis import StateStore
from sandbox.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
PBX_WRITES = ("POST /openapi/v1.0/extension/create", "POST /openapi/v1.0/extension/update",
              "GET /openapi/v1.0/extension/delete")
EVERY_REQUEST = 10**9  # a latency fault's `count`: every request of the run


@dataclass(frozen=True)
class Requests:
    """What the two simulators counted since the last reset."""

    graph: dict[str, Any]
    pbx: dict[str, Any]

    @property
    def pbx_total(self) -> int:
        return int(self.pbx["total"])

    @property
    def graph_wire(self) -> int:
        """Graph requests that crossed the network: a `$batch` once, its inner ones not."""
        return int(self.graph["wire"])

    @property
    def pbx_writes(self) -> int:
        return sum(self.pbx["by_method_path"].get(k, 0) for k in PBX_WRITES)

    def pbx_count(self, method_path: str) -> int:
        return int(self.pbx["by_method_path"].get(method_path, 0))

    def graph_count(self, method_path: str) -> int:
        return int(self.graph["by_method_path"].get(method_path, 0))

    def floor(self, pbx_ms: float, graph_ms: float) -> float:
        """The sequential floor in seconds: each request waiting for the one before it."""
        return (self.pbx_total * pbx_ms + self.graph_wire * graph_ms) / 1000


class Rig:
    """`python -m sandbox --seed users` and a redis-server, both stopped by `close()`."""

    def __init__(self, users: int) -> None:
        self.redis_server = RedisServer()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--seed", str(users), "--pbx-capacity",
             str(max(1000, users * 2)), "--duplicate-rate", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
        try:
            assert self.process.stdout is not None
            self.values: dict[str, Any] = json.loads(self.process.stdout.readline())
        except Exception:
            self.close()
            raise
        self.settings = Settings.from_env(sandbox_environment(self.values) | {
            "SECRET_KEY": "bench-full-sync-key-Wm6Qz1Xk8Nr3Lt5Vd9Hs",
            "REDIS_URL": self.redis_server.url})
        self.store = StateStore(redis.Redis.from_url(self.redis_server.url))
        self.pbx: PbxClient = pbx_client(self.settings)
        self.graph: GraphClient = graph_client(self.settings)
        self._control = requests.Session()
        self._control.trust_env = False

    def graph_client(self, *, batching: bool = True) -> GraphClient:
        """A Graph client of its own, batching or one request per read."""
        client = graph_client(self.settings)
        client.batching = batching
        return client

    def sync(self, part: Part) -> dict[str, Any]:
        """One run of `part` under the fenced sync lock, as the worker runs it; its record."""
        lock = FencedLock(self.store.redis, self.store.keys.sync_lock(), ttl=30.0)
        with lock.held(wait=30) as held:
            if not held:
                raise RuntimeError("the sync lock is taken")
            ctx = Context(graph=self.graph, pbx=self.pbx, store=self.store,
                          document=self.store.settings(), fence=lock.check,
                          fenced_hset=lock.check_and_hset)
            return execute(Run.new(part.name), [part], ctx).to_dict()

    def others_cpu(self) -> dict[str, float]:
        """CPU seconds the simulators' process and redis-server have used so far."""
        return {"simulators": _cpu_seconds(self.process.pid),
                "redis": _cpu_seconds(self.redis_server.process.pid)}

    # settings ----------------------------------------------------------------------------
    def set_document(self, **parts: dict[str, Any]) -> None:
        """Merge `parts` into the stored settings document (validated as the product does)."""
        document = self.store.settings()
        for name, values in parts.items():
            document[name] = {**document.get(name, {}), **values}
        self.store.save_settings(document)

    def set_concurrency(self, width: int) -> None:
        self.set_document(performance={"pbx_concurrency": width})

    # the simulators' control endpoints ---------------------------------------------------
    def _url(self, side: str, path: str) -> tuple[str, dict[str, Any]]:
        if side == "graph":
            return f"{self.values['authority_host']}{path}", {"verify": self.values["ca_bundle"]}
        return f"{self.values['pbx_base_url']}{path}", {}

    def latency(self, *, pbx_ms: int, graph_ms: int) -> None:
        """Every request to each simulator waits this long first (0: none)."""
        for side, ms in (("pbx", pbx_ms), ("graph", graph_ms)):
            url, extra = self._url(side, "/_sandbox/faults")
            self._control.delete(url, timeout=30, **extra).raise_for_status()
            if ms:
                self._control.post(url, json={"path": "/", "status": 200, "latency_ms": ms,
                                              "count": EVERY_REQUEST},
                                   timeout=30, **extra).raise_for_status()

    def reset_counts(self) -> None:
        for side in ("graph", "pbx"):
            url, extra = self._url(side, "/_sandbox/requests")
            self._control.delete(url, timeout=30, **extra).raise_for_status()

    def counts(self) -> Requests:
        found = {}
        for side in ("graph", "pbx"):
            url, extra = self._url(side, "/_sandbox/requests")
            found[side] = self._control.get(url, timeout=30, **extra).json()
        return Requests(graph=found["graph"], pbx=found["pbx"])

    def pbx_end_state(self) -> dict[str, int]:
        """The PBX's extensions against the links: duplicates and strays (latency off first)."""
        extensions = list(self.pbx.extensions())
        links = self.store.user_links()
        numbers = Counter(e.number for e in extensions)
        emails = Counter(e.email_addr.lower() for e in extensions if e.email_addr)
        linked = {link.ext_id for link in links.values()}
        on_pbx = {e.id: e for e in extensions}
        return {
            "extensions": len(extensions),
            "links": len(links),
            "duplicate_numbers": sum(n - 1 for n in numbers.values() if n > 1),
            "duplicate_emails": sum(n - 1 for n in emails.values() if n > 1),
            "unlinked": len(set(on_pbx) - linked),
            "links_astray": sum(1 for link in links.values()
                                if link.ext_id not in on_pbx
                                or on_pbx[link.ext_id].number != link.number),
        }

    def close(self) -> None:
        if getattr(self, "pbx", None) is not None:
            with contextlib.suppress(Exception):  # a token left live expires by itself
                self.pbx.token_source.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.redis_server.stop()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of process `pid` and its threads (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
