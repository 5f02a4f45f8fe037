"""`make demo`: start the seeded sandbox, read the tenant through GraphClient and the PBX
through PbxClient, print what each side holds, and stop everything it started.

`DEMO_SECONDS=N` keeps the sandbox up for N seconds before stopping (default: stop at once).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.clients import graph_client, pbx_client, sandbox_environment  # noqa: E402
from core.config import Settings  # noqa: E402


def main() -> int:
    seconds = float(os.environ.get("DEMO_SECONDS", "0") or 0)
    sandbox = subprocess.Popen([sys.executable, "-m", "sandbox", "--seed", "50"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert sandbox.stdout is not None
        values = json.loads(sandbox.stdout.readline())
        print(f"Sandbox up: Graph {values['graph_base_url']}  PBX {values['pbx_base_url']}")
        settings = Settings.from_env(sandbox_environment(values)
                                     | {"SECRET_KEY": os.urandom(24).hex()})
        graph, pbx = graph_client(settings), pbx_client(settings)
        users = list(graph.users())
        groups = list(graph.groups())
        extensions = list(pbx.extensions())
        pbx.token_source.close()
        kinds = Counter(("disabled " if not u.account_enabled else "") + u.user_type.lower()
                        for u in users)
        print(f"Entra ID: {len(users)} users ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}),"
              f" {len(groups)} groups")
        for user in users[:10]:
            phone = user.business_phones[0] if user.business_phones else "-"
            print(f"  {user.display_name:<24} {user.user_principal_name:<48} {phone}")
        if len(users) > 10:
            print(f"  ... and {len(users) - 10} more")
        print(f"PBX: {len(extensions)} extensions")
        if seconds > 0:
            print(f"Sandbox stays up for {seconds:g} s (DEMO_SECONDS).")
            time.sleep(seconds)
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
