"""`python -m sandbox` prints one JSON line with exactly the documented keys, and stops cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from core.clients import graph_client, pbx_client, sandbox_environment
from core.config import Settings

KEYS = {"authority_host", "graph_base_url", "ca_bundle", "tenant_id", "client_id",
        "client_secret", "pbx_base_url", "pbx_client_id", "pbx_client_secret"}


def test_seeded_sandbox_serves_both_apis_and_exits_0_on_sigterm() -> None:
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--seed", "200"], cwd=root,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        values = json.loads(process.stdout.readline())
        settings = Settings.from_env(sandbox_environment(values) | {
            "SECRET_KEY": "sandbox-cli-key-Nw5Ke8Rj2Tx7Yc1Vb4Mz9Qa6"})
        users = list(graph_client(settings).users())
        pbx = pbx_client(settings)
        extensions = list(pbx.extensions())
        pbx.token_source.close()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)

    assert set(values) == KEYS
    assert values["authority_host"].startswith("https://127.0.0.1:")
    assert values["pbx_base_url"].startswith("http://127.0.0.1:")
    guests = [u for u in users if u.user_type == "Guest"]
    disabled = [u for u in users if not u.account_enabled]
    assert 195 <= len(users) <= 202 and guests and disabled
    assert any(u.business_phones for u in users)
    assert extensions == []
    assert code == 0
