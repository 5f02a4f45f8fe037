"""`flask --app webhook sync`: a sync from a shell, through the same engine, lock and rules as
the workers, with the stored credentials, a progress bar and a summary."""

from __future__ import annotations

import socket
import sys
from typing import Any

import click
from flask import Flask, current_app
from tqdm import tqdm

from core.engine.rules import refusal_of
from core.engine.runs import COUNT_NAMES, Run
from webhook.audit import audit
from webhook.probe_cli import probe
from workers import jobs
from workers.runtime import Runtime


def register(app: Flask) -> None:
    app.cli.add_command(sync)
    app.cli.add_command(probe)


@click.command("sync")
@click.option("--dry-run", is_flag=True, help="Plan only: show what would change, change nothing.")
@click.option("--scope", type=click.Choice(["all", "users", "groups", "contacts"]), default="all",
              show_default=True, help="What to sync; 'all' runs every part that is on.")
@click.option("--allow-deletions", is_flag=True,
              help="Apply deletions even past safety.max_deletions.")
@click.option("--wait", type=float, default=30.0, show_default=True,
              help="Seconds to wait for a sync that is already running.")
def sync(dry_run: bool, scope: str, allow_deletions: bool, wait: float) -> None:
    """Sync Entra ID to the PBX now; exit 0 only when the run succeeded."""
    rt = Runtime(current_app.extensions["settings"])
    parts, refusals = jobs.situation(rt).runnable(scope)
    if not parts:
        refusal = refusal_of(refusals)
        click.echo(f"Nothing to run ({refusal.reason}): {refusal.message}", err=True)
        sys.exit(1)
    run = Run.new(scope, trigger="cli", dry_run=dry_run, allow_deletions=allow_deletions)
    rt.state.save_run(run)
    if allow_deletions and not dry_run:
        audit("deletions_allowed", {"scope": scope, "run_id": run.id},
              actor="command line (flask sync)", source=socket.gethostname())
    bar: dict[str, Any] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if total == 0:
            click.echo(f"{phase} ...", err=True)
            return
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=phase, unit="op", file=sys.stderr)
        bar["bar"].update(done - bar["bar"].n)

    try:
        run = jobs.sync(rt, run, progress=progress, wait=wait)
    except jobs.Busy as exc:
        run.start(jobs.now())
        rt.state.save_run(run.finish(jobs.now(), "failed", str(exc)))
    finally:
        if "bar" in bar:
            bar["bar"].close()
        rt.close()
    click.echo(render(run))
    sys.exit(0 if run.state == "succeeded" else 1)


def render(run: Run) -> str:
    """The run as a short report: summary, counts table, then each problem on its own line."""
    lines = [run.summary, "", f"{'run':<10} {run.id}  ({run.state})"]
    lines += [f"{name:<10} {run.counts.get(name, 0):>6}" for name in COUNT_NAMES]
    for title, rows, total in (("Failures", run.failures, run.failures_total),
                               ("Skipped", run.skipped, run.skipped_total),
                               ("Held deletions", run.held_deletions, run.held_total)):
        if rows:
            lines += ["", f"{title}:"]
            lines += [f"  {r.get('name', '')}: {r.get('reason', '')}" for r in rows]
            if total > len(rows):
                lines.append(f"  … and {total - len(rows)} more")
    return "\n".join(lines)
