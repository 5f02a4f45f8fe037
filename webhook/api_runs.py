"""The admin API's runs: the recent runs, one run's record, and its per-object results.

`GET /api/runs/<id>/objects` pages, searches and filters the rows of a run
(core/engine/rows.py) as JSON, or downloads every matching row as CSV. A CSV cell that a
spreadsheet would take for a formula (it starts with = + - @, a tab or a carriage return)
is written with a leading single quote: names come from the directory, which anyone
with a mailbox may influence.
"""

from __future__ import annotations

import csv
import io
import itertools
from typing import Any

from flask import Blueprint, Response, jsonify, request

from core.engine.rows import FIELDS, OUTCOMES
from core.engine.rules import SYNC_PARTS
from core.engine.runs import STATES
from core.store.runs import RUNS_KEPT
from webhook.api import brief, error, ext
from webhook.auth import admin_only

blueprint = Blueprint("api_runs", __name__, url_prefix="/api")
PAGE, MAX_PAGE = 200, 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

def _choices(name: str, allowed: tuple[str, ...]) -> list[str] | str:
    """A comma list of exact values from the query, or the error naming the allowed ones."""
    given = [v.strip() for v in request.args.get(name, "").split(",") if v.strip()]
    wrong = [v for v in given if v not in allowed]
    return f"one or more of {', '.join(allowed)}" if wrong else given


@blueprint.get("/runs")
@admin_only
def runs() -> tuple[Response, int]:
    limit = min(max(request.args.get("limit", 20, type=int) or 20, 1), RUNS_KEPT)
    parts, states = _choices("part", SYNC_PARTS), _choices("state", STATES)
    for name, chosen in (("part", parts), ("state", states)):
        if isinstance(chosen, str):
            return error(400, f"invalid {name}", fields={name: [chosen]})
    filtered = bool(parts or states)  # filters look through every run kept
    found = (r for r in ext("state").runs(limit=RUNS_KEPT if filtered else limit)
             if (not states or r.get("state") in states)
             and (not parts or r.get("scope") in parts or set(parts) & set(r.get("parts") or {})))
    return jsonify(runs=[brief(r) for r in itertools.islice(found, limit)]), 200


@blueprint.get("/runs/<run_id>")
@admin_only
def run(run_id: str) -> tuple[Response, int]:
    record = ext("state").run(run_id)
    if record is None:
        return error(404, "no such run")
    return jsonify(record), 200


@blueprint.get("/runs/<run_id>/objects")
@admin_only
def run_objects(run_id: str) -> tuple[Response, int]:
    state = ext("state")
    if state.run(run_id) is None:
        return error(404, "no such run")
    outcomes, parts = _choices("outcome", OUTCOMES), _choices("part", SYNC_PARTS)
    shape = request.args.get("format", "json")
    problems = {name: [chosen] for name, chosen in (("outcome", outcomes), ("part", parts))
                if isinstance(chosen, str)}
    if shape not in ("json", "csv"):
        problems["format"] = ["json or csv"]
    if problems:
        return error(400, "invalid query", fields=problems)
    found = state.objects.matching(run_id, q=request.args.get("q", ""), outcomes=outcomes,
                                   parts=parts)
    if shape == "csv":
        return _csv(run_id, found), 200
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    limit = min(max(request.args.get("limit", PAGE, type=int) or PAGE, 1), MAX_PAGE)
    matched, page = 0, []
    for matched, row in enumerate(found, start=1):
        if offset < matched <= offset + limit:
            page.append(row)
    return jsonify(objects=page, total=state.objects.count(run_id), matched=matched,
                   offset=offset, limit=limit), 200


def _csv(run_id: str, rows: Any) -> Response:
    out = io.StringIO()
    out.write("\ufeff")  # a byte-order mark: spreadsheets then read the names as UTF-8
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for found in rows:
        writer.writerow([cell(found.get(name, "")) for name in FIELDS])
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="run-{_safe(run_id)}.csv"'})


def cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _safe(run_id: str) -> str:
    """A run id in a header: a known run's id is letters, digits, T and -, kept as they are."""
    return "".join(c for c in run_id if c.isalnum() or c in "-_")
