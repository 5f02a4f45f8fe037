"""`make demo`: the whole product on the built-in sandbox, on 127.0.0.1.

Starts Redis, the sandbox (50 users in 5 groups, contacts, a shared mailbox), the web app
(gunicorn), a Dramatiq worker and the clock; connects the tenant through the admin API, saves
the user, group and contact sync settings (the first save runs the first syncs) and prints the
results. Then the
sandbox keeps changing a few users through the real Graph writes; Graph notifies the webhook,
the worker debounces and syncs, and the demo prints each run as the PBX follows. Ctrl-C, or
`DEMO_SECONDS=N`, stops it; everything it started is stopped and it exits 0.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.clients import graph_client, sandbox_environment  # noqa: E402
from core.config import Settings  # noqa: E402
from core.graph.client import GraphClient  # noqa: E402
from sandbox.redis_server import RedisServer, free_port  # noqa: E402

CHANGE_EVERY = 6.0
BIN = ROOT / ".venv" / "bin"


class Demo:
    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[Any]] = []
        self.redis = RedisServer()
        self.sandbox = self.start([sys.executable, "-m", "sandbox", "--seed", "50"],
                                  stdout=subprocess.PIPE, text=True)
        assert self.sandbox.stdout is not None
        self.values = json.loads(self.sandbox.stdout.readline())
        port = free_port()
        self.token = secrets.token_urlsafe(32)
        self.env = os.environ | {
            k: v for k, v in sandbox_environment(self.values).items()
            if k in ("ENTRA_AUTHORITY_HOST", "ENTRA_CA_BUNDLE", "GRAPH_BASE_URL", "PBX_BASE_URL",
                     "PBX_CLIENT_ID", "PBX_CLIENT_SECRET")} | {
            "REDIS_URL": self.redis.url, "SECRET_KEY": secrets.token_urlsafe(48),
            "ADMIN_TOKEN": self.token, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "PORT": str(port), "DEBOUNCE_WINDOW_SECONDS": "5", "LOG_LEVEL": "WARNING"}
        self.base = f"http://127.0.0.1:{port}"
        self.start([str(BIN / "gunicorn"), "-c", "webhook/gunicorn_conf.py", "--bind",
                    f"127.0.0.1:{port}", "--log-level", "warning", "webhook:create_app()"])
        self.start([str(BIN / "dramatiq"), "workers.actors", "--processes", "1", "--threads", "4"])
        self.start([sys.executable, "-m", "workers.clock"])
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers["Authorization"] = f"Bearer {self.token}"
        self.seen: set[str] = set()

    def start(self, command: list[str], **options: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(command, cwd=ROOT, env=getattr(self, "env", os.environ),
                                   start_new_session=True, **options)
        self.processes.append(process)
        return process

    def api(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, f"{self.base}{path}", json=body, timeout=30)
        return answer.status_code, answer.json()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.http.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("the web app did not come up")

    def print_new_runs(self) -> list[dict[str, Any]]:
        _, body = self.api("GET", "/api/runs?limit=20")
        finished = [r for r in reversed(body["runs"])
                    if r["id"] not in self.seen and r["state"] in ("succeeded", "failed", "blocked")]
        for run in finished:
            self.seen.add(run["id"])
            print(f"  [{run['trigger']}, {run.get('mode') or 'full'}] {run['summary']}")
        return finished

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.redis.stop()


def main() -> int:
    seconds = float(os.environ.get("DEMO_SECONDS", "0") or 0)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    demo = Demo()
    try:
        demo.wait_ready()
        print(f"Sandbox: Graph {demo.values['graph_base_url']}  PBX {demo.values['pbx_base_url']}")
        print(f"Admin page: {demo.base}/#token={demo.token}")
        print(f"Admin API:  {demo.base}/api/status  (Authorization: Bearer {demo.token})")
        status, body = demo.api("PUT", "/api/connection", {
            "tenant_id": demo.values["tenant_id"], "client_id": demo.values["client_id"],
            "client_secret": demo.values["client_secret"]})
        print(f"Connect to Entra ID: {body['status']}")
        if status != 200:
            raise RuntimeError(f"the connection failed: {body}")
        status, body = demo.api("PATCH", "/api/settings", {
            "users": {"enabled": True}, "groups": {"enabled": True},
            "contacts": {"personal": {"enabled": True}, "shared": {"enabled": True}},
            "schedule": {"timezone": "UTC"}})  # the sandbox PBX's time zone (it has no default)
        if status != 200:
            raise RuntimeError(f"the settings were refused: {body}")
        print("User, group and contact sync settings saved; the first syncs run:")
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and done < 3:
            done += len(demo.print_new_runs())
            time.sleep(0.5)
        subs: list[str] = []
        steady = 0
        for _ in range(120):  # the upkeep adds one contacts subscription per mailbox
            time.sleep(0.5)
            now_subs = [s["resource"] for s in demo.api("GET", "/api/status")[1]["subscriptions"]]
            steady = steady + 1 if now_subs and len(now_subs) == len(subs) else 0
            subs = now_subs
            if steady >= 4:
                break
        print(f"Subscriptions at Graph: {', '.join(r for r in subs if '/' not in r)}, and "
              f"{sum(1 for r in subs if r.endswith('/contacts'))} mailboxes' contacts")
        settings = Settings.from_env(demo.env | sandbox_environment(demo.values))
        graph = graph_client(settings)
        rng = random.Random(7)
        end = time.monotonic() + seconds if seconds else float("inf")
        if seconds:
            print(f"Following the tenant for {seconds:g} s:")
        else:
            print("Following the tenant until Ctrl-C:")
        next_change = time.monotonic()
        while time.monotonic() < end and not stop["now"]:
            if time.monotonic() >= next_change:
                print(f"Entra ID: {change_tenant(graph, rng)}")
                next_change = time.monotonic() + CHANGE_EVERY
            demo.print_new_runs()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        demo.stop()
    print("Demo stopped; nothing left running.")
    return 0


def change_tenant(graph: GraphClient, rng: random.Random) -> str:
    """One change an Entra administrator might make, through the real Graph writes."""
    users = [u for u in graph.users() if u.account_enabled and u.user_type == "Member"]
    user = rng.choice(users)
    kind = rng.choice(("title", "title", "mobile", "hire", "leaver"))
    if kind == "title":
        title = rng.choice(("Team Lead", "Account Executive", "Support Engineer II"))
        graph.request("PATCH", f"users/{user.id}", json={"jobTitle": title})
        return f"{user.display_name} is now {title}"
    if kind == "mobile":
        mobile = f"+1 206 555 {rng.randint(0, 9999):04d}"
        graph.request("PATCH", f"users/{user.id}", json={"mobilePhone": mobile})
        return f"{user.display_name} has the mobile number {mobile}"
    if kind == "hire":
        nick = f"new.hire{rng.randint(100, 999)}"
        graph.request("POST", "users", json={
            "accountEnabled": True, "displayName": f"New Hire {nick[-3:]}", "givenName": "New",
            "surname": f"Hire {nick[-3:]}", "mailNickname": nick,
            "userPrincipalName": f"{nick}@contoso.com",
            "passwordProfile": {"password": secrets.token_urlsafe(12)}})
        return f"{nick}@contoso.com joined"
    graph.request("PATCH", f"users/{user.id}", json={"accountEnabled": False})
    return f"{user.display_name} left (account disabled)"


if __name__ == "__main__":
    sys.exit(main())
