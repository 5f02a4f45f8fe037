"""`make demo`: the product's main job on the built-in sandbox.

Starts Redis and the sandbox (50 users in 5 groups, contacts, a shared mailbox) on 127.0.0.1,
runs the first user sync through the `flask --app webhook sync` command, and prints the result
and the PBX's extensions. With `DEMO_SECONDS=N` it then keeps going for N seconds: every few
seconds the sandbox changes a user (title, mobile, a new hire, a leaver) and a sync follows.
It stops everything it started and exits 0.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.clients import graph_client, pbx_client, sandbox_environment  # noqa: E402
from core.config import Settings  # noqa: E402
from core.graph import GraphClient  # noqa: E402
from sandbox.redis_server import RedisServer  # noqa: E402

CHANGE_EVERY = 8.0


def main() -> int:
    seconds = float(os.environ.get("DEMO_SECONDS", "0") or 0)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    redis_server = RedisServer()
    sandbox = subprocess.Popen([sys.executable, "-m", "sandbox", "--seed", "50"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert sandbox.stdout is not None
        values = json.loads(sandbox.stdout.readline())
        env = os.environ | sandbox_environment(values) | {
            "SECRET_KEY": os.urandom(24).hex(), "REDIS_URL": redis_server.url}
        settings = Settings.from_env(env)
        graph = graph_client(settings)
        print(f"Redis {redis_server.url} | Graph {values['graph_base_url']} | "
              f"PBX {values['pbx_base_url']}")
        users, groups = list(graph.users()), list(graph.groups())
        print(f"Entra ID tenant: {len(users)} users, {len(groups)} groups\n")
        print("First sync:")
        sync(env)
        show_extensions(settings)
        rng = random.Random(1)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not stop["now"]:
            time.sleep(min(CHANGE_EVERY, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline or stop["now"]:
                break
            print(f"\nEntra ID change: {change_tenant(graph, rng)}")
            sync(env)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=20)
        redis_server.stop()
    print("\nDemo stopped; nothing left running.")
    return 0


def sync(env: dict[str, str]) -> None:
    result = subprocess.run([str(ROOT / ".venv/bin/flask"), "--app", "webhook", "sync"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    print(result.stdout.rstrip())
    if result.returncode != 0:
        print(result.stderr.rstrip()[-2000:])


def show_extensions(settings: Settings) -> None:
    pbx = pbx_client(settings)
    try:
        extensions = sorted(pbx.extensions(), key=lambda e: e.number)
    finally:
        pbx.token_source.close()
    print(f"\nPBX extensions ({len(extensions)}):")
    for ext in extensions[:12]:
        print(f"  {ext.number:<8} {ext.caller_id_name:<26} {ext.email_addr}")
    if len(extensions) > 12:
        print(f"  ... and {len(extensions) - 12} more")


def change_tenant(graph: GraphClient, rng: random.Random) -> str:
    """One change an Entra administrator might make, through the real Graph writes."""
    users = [u for u in graph.users() if u.account_enabled and u.user_type == "Member"]
    user = rng.choice(users)
    kind = rng.choice(("title", "mobile", "hire", "leaver"))
    if kind == "title":
        title = rng.choice(("Team Lead", "Account Executive", "Support Engineer II"))
        graph.request("PATCH", f"users/{user.id}", json={"jobTitle": title})
        return f"{user.display_name} is now {title}"
    if kind == "mobile":
        mobile = f"+1 206 555 {rng.randint(0, 9999):04d}"
        graph.request("PATCH", f"users/{user.id}", json={"mobilePhone": mobile})
        return f"{user.display_name} has a new mobile number {mobile}"
    if kind == "hire":
        nick = f"new.hire{rng.randint(100, 999)}"
        graph.request("POST", "users", json={
            "accountEnabled": True, "displayName": f"New Hire {nick[-3:]}", "givenName": "New",
            "surname": f"Hire {nick[-3:]}", "mailNickname": nick,
            "userPrincipalName": f"{nick}@contoso.com",
            "passwordProfile": {"password": os.urandom(12).hex()}})
        return f"{nick}@contoso.com joined"
    graph.request("PATCH", f"users/{user.id}", json={"accountEnabled": False})
    return f"{user.display_name} left (account disabled)"


if __name__ == "__main__":
    sys.exit(main())
