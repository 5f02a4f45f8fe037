"""`flask --app webhook probe`: the contract probe against the configured Graph tenant and PBX,
with the credentials the workers use (the stored connection first, else ENTRA_*)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
import redis
from flask import current_app

from core import probe as contract_probe
from core.clients import graph_client
from core.errors import ConfigError
from core.graph.client import GraphClient
from workers.runtime import Runtime


@click.command("probe")
@click.option("--write-test-extension", "number", metavar="NUMBER", default=None,
              help="Also create extension NUMBER (it must not exist), read it back, edit it and "
                   "delete it. Without it the probe only reads.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to save the JSON report (default probe-<timestamp>.json).")
def probe(number: str | None, out: str | None) -> None:
    """Compare the real services' answers with the simulators' assumptions; exit 0 only when
    there is no difference."""
    settings = current_app.extensions["settings"]
    rt = Runtime(settings)
    graph, source, problem = _graph(rt)
    try:
        report = contract_probe.run(
            graph=graph, pbx=rt.pbx(), pbx_client_id=str(settings.pbx_client_id),
            pbx_client_secret=str(settings.pbx_client_secret), write_number=number,
            credentials={"graph": source, "pbx": "environment (PBX_*)"},
            targets={"graph": settings.graph_base_url, "pbx": settings.pbx_base_url},
            graph_problem=problem)
    finally:
        rt.close()
    path = Path(out or f"probe-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json")
    path.write_text(json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    click.echo(report.render())
    click.echo(f"report saved to {path}")
    sys.exit(0 if not report.different else 1)


def _graph(rt: Runtime) -> tuple[GraphClient | None, str, str]:
    """The Graph client the workers would use, where its credentials came from, or why none."""
    try:
        stored = bool(rt.state.redis.get(rt.state.keys.connection()))
        return rt.graph(), "stored connection" if stored else "environment (ENTRA_*)", ""
    except ConfigError as exc:
        return None, "none", str(exc)
    except redis.RedisError as exc:
        if not rt.settings.has_entra_credentials:
            return None, "none", f"Redis unreachable ({type(exc).__name__}) and no ENTRA_*"
        return (graph_client(rt.settings),
                f"environment (ENTRA_*; Redis unreachable: {type(exc).__name__})", "")
