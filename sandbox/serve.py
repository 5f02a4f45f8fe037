"""Serve a WSGI app on a loopback port in a background thread, keeping connections alive.

cheroot's HTTP/1.1 server, not werkzeug's development server: werkzeug closes the connection
after every answer (it cannot drain a request body before reading the next request line),
where Microsoft Graph and a Yeastar PBX keep theirs open. Each request is served by a thread
of a fixed pool, so requests sent side by side (a latency fault sleeps in its thread) are
answered side by side, up to `threads` at once.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

THREADS = 48  # more than the widest client: 16 PBX requests at once, plus reads and webhooks
IDLE_SECONDS = 300  # an idle kept-alive connection is closed after this long


class ServedApp:
    """A running server; `url` is its base URL, `stop()` shuts it down and joins the thread.

    `tls` is (certificate, key) for https; `ssl_context`, given with it, is used instead of
    the context cheroot builds from those files."""

    def __init__(self, app: Callable[..., Any], *, host: str = "127.0.0.1", port: int = 0,
                 tls: tuple[Path, Path] | None = None, ssl_context: ssl.SSLContext | None = None,
                 threads: int = THREADS) -> None:
        self.server = wsgi.Server((host, port), app, numthreads=threads, max=threads,
                                  request_queue_size=128, timeout=IDLE_SECONDS,
                                  server_name="sandbox")
        if tls is not None:
            adapter = BuiltinSSLAdapter(str(tls[0]), str(tls[1]))
            if ssl_context is not None:
                adapter.context = ssl_context
            self.server.ssl_adapter = adapter
        self.server.prepare()  # binds: the port is known from here on
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve, daemon=True,
                                        name=f"serve-{self.port}")
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server.bind_addr[1])

    def stop(self) -> None:
        self.server.stop()
        self._thread.join(timeout=5)
