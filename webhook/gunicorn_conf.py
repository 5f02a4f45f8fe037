"""gunicorn settings of the web process: `gunicorn -c webhook/gunicorn_conf.py 'webhook:create_app()'`.

The Procfile, docker-compose, the Dockerfile, the demo and the bench all start the web this
way; `--bind` on the command line overrides the port. Each worker process counts its own
Prometheus metrics, so the workers share a directory (prometheus_client's multiprocess
mode) and `/metrics` sums them, whichever worker answers the scrape.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = 2
worker_class = "gthread"
threads = 4


_made: list[str] = []


def on_starting(server: Any) -> None:
    """Give the workers an empty metrics directory before any of them starts counting."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = tempfile.mkdtemp(prefix="eps-metrics-")
        _made.append(directory)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    for stale in Path(directory).glob("*.db"):
        stale.unlink()


def on_exit(server: Any) -> None:
    """Remove the metrics directory this server made (one the operator set is kept)."""
    for directory in _made:
        shutil.rmtree(directory, ignore_errors=True)
