"""Both simulators served together on loopback ports, as `python -m sandbox` and tests use them."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sandbox import control, graph, pbx, tls
from sandbox.graph.notify import Notifier
from sandbox.graph.store import GraphStore
from sandbox.pbx.store import PbxStore
from sandbox.seed import seed_tenant
from sandbox.serve import ServedApp


class Sandbox:
    """The Graph simulator (https) and the PBX simulator (http), with their stores in reach."""

    def __init__(self, *, host: str = "127.0.0.1", graph_port: int = 0, pbx_port: int = 0,
                 seed: int = 0, pbx_capacity: int = 1000, duplicate_rate: float = 0.0,
                 cert_dir: Path | None = None) -> None:
        self._tmp = None if cert_dir else tempfile.TemporaryDirectory(prefix="sandbox-tls-")
        self.cert_path, key_path = tls.write_self_signed(cert_dir or Path(self._tmp.name))
        self.graph_control, self.pbx_control = control.Control(), control.Control()
        self.graph_store = GraphStore(clock=self.graph_control.clock)
        self.pbx_store = PbxStore(capacity=pbx_capacity)
        if seed:
            seed_tenant(self.graph_store, seed)
        self.notifier = Notifier(self.graph_store, duplicate_rate=duplicate_rate)
        self.graph = ServedApp(
            graph.create_app(self.graph_store, self.graph_control, notifier=self.notifier),
            host=host, port=graph_port, tls=(self.cert_path, key_path),
            ssl_context=tls.server_context(self.cert_path, key_path))
        self.pbx = ServedApp(pbx.create_app(self.pbx_store, self.pbx_control), host=host,
                             port=pbx_port)
        self.notifier.start()

    def describe(self) -> dict[str, Any]:
        """The connection values, under the keys INTERFACES.md gives."""
        return {
            "authority_host": self.graph.url,
            "graph_base_url": f"{self.graph.url}/v1.0",
            "ca_bundle": str(self.cert_path),
            "tenant_id": self.graph_store.tenant_id,
            "client_id": self.graph_store.app.client_id,
            "client_secret": self.graph_store.app.client_secret,
            "pbx_base_url": self.pbx.url,
            "pbx_client_id": self.pbx_store.client_id,
            "pbx_client_secret": self.pbx_store.client_secret,
        }

    def stop(self) -> None:
        self.notifier.stop()
        self.graph.stop()
        self.pbx.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
