"""`flask --app webhook sync`: run a sync from a shell, with a progress bar and a summary."""

from __future__ import annotations

import sys
from typing import Any

import click
import redis
from flask import Flask, current_app
from tqdm import tqdm

from core.clients import graph_client, pbx_client
from core.config import Settings
from core.engine.runs import COUNT_NAMES, new_run
from core.errors import SyncError
from core.groups.sync import sync_groups
from core.store.redis import StateStore
from core.users.sync import sync_users


def register(app: Flask) -> None:
    app.cli.add_command(sync)


@click.command("sync")
@click.option("--dry-run", is_flag=True, help="Plan only: show what would change, change nothing.")
@click.option("--scope", type=click.Choice(["all", "users", "groups"]), default="all",
              show_default=True, help="What to sync; 'all' runs user sync, then group sync if "
              "it is on in the settings.")
@click.option("--allow-deletions", is_flag=True,
              help="Apply deletions even past safety.max_deletions.")
def sync(dry_run: bool, scope: str, allow_deletions: bool) -> None:
    """Sync Entra ID users to PBX extensions, and groups to extension groups, now."""
    settings: Settings = current_app.extensions["settings"]
    try:
        graph, pbx = graph_client(settings), pbx_client(settings)
    except SyncError as exc:
        raise click.ClickException(str(exc)) from None
    state = StateStore(redis.Redis.from_url(settings.redis_url))
    bar: dict[str, Any] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if total == 0:
            click.echo(f"{phase} ...", err=True)
            return
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=phase, unit="op", file=sys.stderr)
        bar["bar"].update(done - bar["bar"].n)

    document = state.settings()
    records = []
    try:
        if scope in ("all", "users"):
            records.append(sync_users(graph=graph, pbx=pbx, state=state,
                                      run=new_run("users", dry_run=dry_run),
                                      allow_deletions=allow_deletions, progress=progress))
        if scope == "groups" or (scope == "all" and document["groups"]["enabled"]):
            records.append(sync_groups(graph=graph, pbx=pbx, state=state,
                                       run=new_run("groups", dry_run=dry_run),
                                       allow_deletions=allow_deletions))
    finally:
        if "bar" in bar:
            bar["bar"].close()
        pbx.token_source.close()
    click.echo("\n\n".join(render(run) for run in records))
    if any(run["state"] == "failed" for run in records):
        sys.exit(1)


def render(run: dict[str, Any]) -> str:
    """The run as a short report: summary, counts table, then each problem on its own line."""
    lines = [run["summary"], "", f"{'run':<10} {run['id']}  ({run['state']})"]
    lines += [f"{name:<10} {run['counts'].get(name, 0):>6}" for name in COUNT_NAMES]
    for title, rows in (("Failures", run["failures"]), ("Skipped", run["skipped"]),
                        ("Held deletions", run["held_deletions"])):
        if rows:
            lines += ["", f"{title}:"]
            lines += [f"  {r.get('name', '')}: {r.get('reason', '')}" for r in rows]
    return "\n".join(lines)
