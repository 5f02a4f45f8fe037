"""Serve a WSGI app on a loopback port in a background thread."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per request is noise
        pass


class ServedApp:
    """A running server; `url` is its base URL, `stop()` shuts it down and joins the thread."""

    def __init__(
        self,
        app: Callable[..., Any],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, ssl_context=ssl_context, request_handler=_QuietHandler
        )
        self.server.daemon_threads = True
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://{host}:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server.server_port

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
