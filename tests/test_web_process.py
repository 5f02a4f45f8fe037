"""The web process as the Procfile starts it: gunicorn with webhook/gunicorn_conf.py, real Redis."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from core.secret_box import SecretBox
from core.subscriptions import SubscriptionStore
from sandbox.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "web-process-key-Lp4Vb9Xq2Wm7Kd1Rz6Tn3Hs8Fj0Gc5"


@pytest.fixture
def web(state: Any, redis_server: Any) -> Iterator[tuple[str, Path]]:
    box = SecretBox(SECRET_KEY)
    SubscriptionStore(state, box).save({
        "id": "sub-1", "resource": "users", "change_type": "updated,deleted",
        "expires_at": "2030-01-01T00:00:00Z", "client_state": box.seal("the-client-state")})
    before = set(Path(tempfile.gettempdir()).glob("eps-metrics-*"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"} | {
        "REDIS_URL": redis_server.url, "SECRET_KEY": SECRET_KEY,
        "ADMIN_TOKEN": "web-process-Yb6Qw1Ez8Ru3Ti5Op0Ma",
        "PBX_BASE_URL": "http://127.0.0.1:1", "PBX_CLIENT_ID": "id", "PBX_CLIENT_SECRET": "s",
        "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "webhook/gunicorn_conf.py", "--bind",
         f"127.0.0.1:{port}", "webhook:create_app()"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{base}/healthz", timeout=1)
            break
        except (requests.ConnectionError, requests.Timeout):  # up, but not answering yet
            assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
    made = set(Path(tempfile.gettempdir()).glob("eps-metrics-*")) - before
    assert len(made) == 1, "gunicorn_conf.py made no metrics directory"
    yield base, next(iter(made))
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    assert not any(d.exists() for d in made), "the metrics directory is left behind"


def counted(text: str, outcome: str) -> float:
    found = re.search(rf'^eps_notifications_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def post(base: str, n: int) -> None:
    item = {"id": f"n{n}", "subscriptionId": "sub-1", "clientState": "the-client-state",
            "changeType": "updated", "resource": f"Users/{n}"}
    forged = item | {"id": f"f{n}", "clientState": "forged"}
    answer = requests.post(f"{base}/graph/notifications", json={"value": [item, forged]},
                           timeout=10, headers={"Connection": "close"})
    assert answer.status_code == 202


def test_metrics_sum_the_counts_of_every_web_worker(web: tuple[str, Path]) -> None:
    base, directory = web
    sent = 0
    with ThreadPoolExecutor(16) as pool:  # concurrent requests, so both workers answer some
        while len(list(directory.glob("counter_*.db"))) < 2:
            assert sent < 2000, "one worker answered every request"
            list(pool.map(post, [base] * 32, range(sent, sent + 32)))
            sent += 32

    scrapes = [requests.get(f"{base}/metrics", timeout=10, headers={"Connection": "close"}).text
               for _ in range(8)]

    assert {counted(s, "accepted") for s in scrapes} == {float(sent)}
    assert {counted(s, "bad_client_state") for s in scrapes} == {float(sent)}
    assert all("eps_pending_changes" in s for s in scrapes)
