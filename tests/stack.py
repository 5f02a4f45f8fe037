"""The whole product on loopback for end-to-end tests: web app, Dramatiq workers, sandbox, Redis."""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
import requests

from core.clients import sandbox_environment
from core.config import Settings
from core.engine.runs import FINISHED
from sandbox.redis_server import free_port
from sandbox.runner import Sandbox
from sandbox.serve import ServedApp
from webhook import create_app

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "test-admin-token-Fy3Kq8Wz1Xn6Rt9Lm"
SECRET_KEY = "stack-secret-key-Pz7Wq2Xk9Ln4Rd6Vt1Hm8Bs3"


class Stack:
    def __init__(self, sandbox: Sandbox, redis_url: str, *, window: int = 2,
                 max_changes: int = 10) -> None:
        self.sandbox = sandbox
        port = free_port()
        values = sandbox.describe()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ENTRA_")} | {
            **{k: v for k, v in sandbox_environment(values).items()
               if not k.startswith("ENTRA_") or k in ("ENTRA_AUTHORITY_HOST", "ENTRA_CA_BUNDLE")},
            "REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY, "ADMIN_TOKEN": ADMIN_TOKEN,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "DEBOUNCE_WINDOW_SECONDS": str(window), "DEBOUNCE_MAX_CHANGES": str(max_changes),
            "LOG_LEVEL": "WARNING"}
        self.settings = Settings.from_env(self.env)
        self.redis = redis.Redis.from_url(redis_url)
        self.app = create_app(self.settings)
        self.web = ServedApp(self.app, port=port)
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        self.workers: list[subprocess.Popen[bytes]] = []
        self.credentials = {"tenant_id": values["tenant_id"], "client_id": values["client_id"],
                            "client_secret": values["client_secret"]}

    def start_worker(self, threads: int = 2) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "workers.actors", "--processes", "1",
             "--threads", str(threads)], cwd=ROOT, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.workers.append(worker)
        return worker

    def kill(self, worker: subprocess.Popen[bytes]) -> None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        self.workers.remove(worker)

    def api(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, f"{self.web.url}{path}", json=body, timeout=30)

    def connect(self, time_zone: str | None = "UTC") -> None:
        """Connect, and choose the schedule's time zone (the PBX's, which has no default) as
        an administrator does before the first save of a sync part; None leaves it unset."""
        answer = self.api("PUT", "/api/connection", self.credentials)
        assert answer.status_code == 200, answer.text
        wait_for(lambda: len(self.api("GET", "/api/status").json()["subscriptions"]) == 2,
                 timeout=30, what="the users and groups subscriptions")
        if time_zone is not None:
            chosen = self.api("PATCH", "/api/settings", {"schedule": {"timezone": time_zone}})
            assert chosen.status_code == 200, chosen.text

    def run(self, run_id: str, timeout: float = 60) -> dict[str, Any]:
        wait_for(lambda: self.api("GET", f"/api/runs/{run_id}").json()["state"]
                 in FINISHED, timeout=timeout, what=f"run {run_id}")
        return dict(self.api("GET", f"/api/runs/{run_id}").json())

    def runs(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "/api/runs?limit=200").json()["runs"])

    def stop(self) -> None:
        for worker in list(self.workers):
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        self.workers.clear()
        self.web.stop()
        self.http.close()


def wait_for(check: Callable[[], Any], *, timeout: float, what: str,
             every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except (requests.RequestException, KeyError):
            result = None
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def started_stack(redis_url: str, *, users: int, connect: bool = True) -> Iterator[Stack]:
    """The whole product with one worker on a tenant of `users` seeded users, before any
    setting is saved (connected unless asked not to), whose sign-in answers come back to its
    /sso/callback; Redis emptied before and after."""
    from sandbox.seed import seed_tenant

    with Sandbox() as sandbox:
        seed_tenant(sandbox.graph_store, users)
        client = redis.Redis.from_url(redis_url)
        client.flushdb()
        running = Stack(sandbox, redis_url)
        sandbox.graph_store.app.redirect_uris = {f"{running.web.url}/sso/callback"}
        try:
            running.start_worker()
            if connect:
                running.connect()
            yield running
        finally:
            running.stop()
            client.flushdb()
            client.close()


@contextmanager
def synced_stack(redis_url: str, *, users: int, settings: dict[str, Any]) -> Iterator[Stack]:
    """A connected stack with one worker, after the first sync of `settings` (users on)."""
    with started_stack(redis_url, users=users) as running:
        first = running.api("PATCH", "/api/settings", {"users": {"enabled": True}} | settings)
        running.run(first.json()["run_id"])
        yield running


def browser(stack: Stack) -> requests.Session:
    """A browser's session: no proxies from the machine, trusting the sandbox's certificate."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(stack.sandbox.cert_path)
    return session


def form_post_fields(page: str) -> dict[str, str]:
    """The code and state an Entra form_post page would send to the redirect URI."""
    return {k: html.unescape(v)
            for k, v in re.findall(r'name="(code|state)" value="([^"]*)"', page)}
