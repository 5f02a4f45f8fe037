"""The live health check (core/health) with this process's clients, and asking for one.

The health actor runs `check`; the clock asks hourly, `GET /api/status` when the last report
is stale, `POST /api/health/check` on demand, and `after_failed_run` after a run that failed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.connection import check as check_connection
from core.connection import client_for
from core.engine.rules import situation_of
from core.engine.runs import Run
from core.errors import ConfigError, SyncError
from core.graph.client import GraphClient
from core.health import HealthStore, check_parts, check_pbx
from core.health.check import parts_to_check
from core.health.store import AFTER_FAILURE_GAP_SECONDS
from workers.broker import CHECK_HEALTH
from workers.runtime import Runtime


def check(rt: Runtime, now: dt.datetime | None = None) -> dict[str, dict[str, Any]]:
    """Check every part that is on, the connection and the PBX; keep and return the report.

    Graph is asked with a token issued now (a new client), so that a permission granted or
    taken away since the last token shows at once; the connection check is recorded too.
    """
    now = now or dt.datetime.now(dt.UTC)
    credentials = rt.connection.credentials(rt.settings)
    situation = situation_of(rt.state, connected=credentials is not None)
    document = dict(situation.document or rt.state.settings())
    graph: GraphClient | SyncError = ConfigError(["not connected"])  # then no part is on
    if credentials is not None:
        try:
            graph = client_for(rt.settings, credentials)
        except SyncError as exc:
            graph = exc  # each part that is on names it, and so does the connection check
        rt.connection.record_check(check_connection(
            rt.settings, credentials, now=now,
            graph=graph if isinstance(graph, GraphClient) else None))
    entries = check_parts(graph, parts_to_check(situation), document,
                          list(rt.state.user_links()), now)
    entries["pbx"] = check_pbx(rt.pbx, now, document["schedule"].get("timezone"))
    store = HealthStore(rt.state)
    store.save(entries, now)
    store.release("asked")  # the next ask queues a new check
    return entries


def after_failed_run(rt: Runtime, run: Run) -> bool:
    """Queue a health check after a run that failed, at most one per five minutes: what
    failed may be a permission taken away or the PBX refusing, and status then says which."""
    if run.state != "failed":
        return False
    if not HealthStore(rt.state).claim("after-failure", AFTER_FAILURE_GAP_SECONDS):
        return False
    rt.send(CHECK_HEALTH, "after a failed run")
    return True
