"""`python -m sandbox`: serve both simulators and print their connection values as one JSON line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from sandbox.runner import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--graph-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--pbx-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0, help="create this many users")
    parser.add_argument("--pbx-capacity", type=int, default=1000, help="extension capacity")
    parser.add_argument("--duplicate-rate", type=float, default=0.02,
                        help="share of notification batches delivered twice")
    parser.add_argument("--cert-dir", type=Path, default=None,
                        help="where to write the self-signed certificate (default: a temp dir)")
    args = parser.parse_args(argv)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    sandbox = Sandbox(host=args.host, graph_port=args.graph_port, pbx_port=args.pbx_port,
                      seed=args.seed, pbx_capacity=args.pbx_capacity,
                      duplicate_rate=args.duplicate_rate, cert_dir=args.cert_dir)
    try:
        print(json.dumps(sandbox.describe()), flush=True)
        stopped.wait()
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
