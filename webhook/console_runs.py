"""The console's status and runs pages: what the product is doing, what ran, what runs next.

As every console page, each reads its data through the admin API view a script would call
(`from_api`): `/` shows `GET /api/status`, `/runs` shows `GET /api/runs` with this page's
filters, and `/runs/<id>` shows `GET /api/runs/<id>` and a page of its per-object results.
Pages that run or finish refresh themselves with htmx (no script of their own); changes (sync
now, allow the held deletions, check health) go through the JSON API from `static/console.js`.

A plain link sends neither a bearer token nor `X-Requested-With`, so the API refuses a
download through a session; `/runs/<id>/objects.csv` is the same-origin page that serves the
API's CSV to an administrator's session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, current_app, request

from core.engine.rows import OUTCOMES
from core.engine.rules import SYNC_PARTS
from core.engine.runs import FINISHED, STATES
from webhook.api_runs import run, run_objects, runs
from webhook.console import admin_page, from_api, render

blueprint = Blueprint("console_runs", __name__)
RUNS_SHOWN = (20, 50, 100, 200)
OBJECTS_PAGE = 200
FILTERS = ("q", "outcome", "part")  # what narrows a run's objects (paging aside)
STATE_WORDS = {"queued": "Queued", "running": "Running", "succeeded": "Succeeded",
               "partial": "Partly failed", "failed": "Failed", "blocked": "Blocked"}
STATE_HINTS = {"queued": "waiting for a worker", "running": "in progress",
               "succeeded": "finished, every change made",
               "partial": "finished, some changes failed",
               "failed": "nothing was changed that could not be read",
               "blocked": "deletions held back until you allow them"}
PART_WORDS = {"users": "Users", "groups": "Groups", "contacts": "Contacts",
              "presence": "Teams presence", "pbx": "PBX", "all": "All parts"}
TRIGGERS = {"manual": "Sync now", "schedule": "Schedule", "first save": "First save",
            "cli": "Command line", "provision": "Provision a user", "preview": "Preview",
            "resume": "Resumed", "enable": "Integration enabled", "disable": "Disable",
            "disconnect": "Disconnect", "pause": "Pause", "changes:users": "Changes in Entra ID",
            "changes:groups": "Changes in Entra ID", "changes:contacts": "Changes in Outlook"}
KINDS = {"extension": ("extension", "extensions"),
         "extension_group": ("extension group", "extension groups"),
         "phonebook": ("phonebook", "phonebooks"), "contact": ("contact", "contacts")}
COUNTS_SHOWN = ("created", "updated", "linked", "released", "deleted", "skipped", "failed")
CONNECTION_REASONS = {"bad_secret": "the client secret is wrong",
                      "secret_expired": "the client secret has expired",
                      "consent_missing": "admin consent is missing for a permission",
                      "tenant_not_found": "the tenant was not found",
                      "network": "Entra ID could not be reached",
                      "refused": "Entra ID refused the request"}


def from_api_asking(query: Mapping[str, Any], view: Callable[..., Any], *args: Any,
                    **kwargs: Any) -> tuple[int, Any]:
    """What an admin API view answers to `query` instead of this request's own."""
    environ = dict(request.environ, QUERY_STRING=urlencode(query, doseq=True))
    with current_app.request_context(environ):
        return from_api(view, *args, **kwargs)


def status_context(shown: dict[str, Any]) -> dict[str, Any]:
    """What the status page (`/`, webhook/console.py) shows besides `GET /api/status`: the last
    scheduled run among the recent ones, and the debounce of change-triggered syncs."""
    _, recent = from_api_asking({"limit": 50}, runs)
    listed = recent.get("runs") or []
    settings = current_app.extensions["settings"]
    return {"data": shown,
            "last_scheduled": next((r for r in listed if r.get("trigger") == "schedule"), None),
            "window": settings.debounce_window_seconds,
            "max_changes": settings.debounce_max_changes}


@blueprint.get("/runs")
@admin_page
def runs_page() -> Response:
    """Recent runs, filtered by part and state; refreshed while one is queued or running."""
    query = {"limit": RUNS_SHOWN[1]} | {k: v for k, v in request.args.items()
                                        if k in ("part", "state", "limit") and v}
    code, answer = from_api_asking(query, runs)
    listed = answer.get("runs", []) if code == 200 else []
    return render("console/runs.html", "Runs", status=200 if code == 200 else code,
                  runs=listed, problem=None if code == 200 else answer, query=query,
                  live=any(r.get("state") not in FINISHED for r in listed),
                  states=STATES, parts=SYNC_PARTS, sizes=RUNS_SHOWN)


@blueprint.get("/runs/<run_id>")
@admin_page
def run_page(run_id: str) -> Response:
    """One run: its sentence, counts per part, held deletions, and its per-object results."""
    code, record = from_api(run, run_id)
    if code != 200:
        return render("console/run.html", "Run not found", status=code, record=None,
                      run_id=run_id)
    query = {k: v for k, v in request.args.items() if k in (*FILTERS, "offset") and v}
    found_code, found = from_api_asking(query | {"limit": OBJECTS_PAGE}, run_objects, run_id)
    filters = {k: v for k, v in query.items() if k in FILTERS}
    return render("console/run.html", run_title(record), record=record, run_id=run_id,
                  objects=found if found_code == 200 else None,
                  objects_problem=None if found_code == 200 else found, filters=filters,
                  outcomes=OUTCOMES, parts=SYNC_PARTS, live=record["state"] not in FINISHED,
                  csv_path=f"/runs/{run_id}/objects.csv" + _query(filters),
                  held=held_by_kind(record))


@blueprint.get("/runs/<run_id>/objects.csv")
@admin_page
def run_objects_csv(run_id: str) -> Response:
    """The matching per-object results as the API's CSV, for an administrator's session."""
    query = {k: v for k, v in request.args.items() if k in FILTERS} | {"format": "csv"}
    environ = dict(request.environ, QUERY_STRING=urlencode(query))
    with current_app.request_context(environ):
        answer = getattr(run_objects, "__wrapped__", run_objects)(run_id)
    response, code = answer if isinstance(answer, tuple) else (answer, answer.status_code)
    response.status_code = code
    return response


def run_title(record: Mapping[str, Any]) -> str:
    """"Sync of users", "Dry run of all parts", "Preview of users and groups"."""
    if record.get("action"):
        return f"Wind-down after {record['action']}"
    kind = ("Preview" if record.get("trigger") == "preview" else
            "Dry run" if record.get("dry_run") else "Sync")
    asked = record.get("parts_asked") or []
    parts = (" and ".join(PART_WORDS.get(p, p).lower() for p in asked) if asked
             else part_word(record.get("scope")).lower())
    return f"{kind} of {parts}"


def held_by_kind(record: Mapping[str, Any]) -> str:
    """"3 extensions and 1 extension group": what the held deletions would delete."""
    counts: dict[str, int] = {}
    for held in record.get("held_deletions") or []:
        kind = str(held.get("kind") or "object")
        counts[kind] = counts.get(kind, 0) + 1
    listed = sum(counts.values())
    total = int(record.get("held_total") or listed)
    if total > listed:  # the record lists the first ones only
        return f"{total} objects"
    said = [f"{n} {KINDS.get(kind, (kind, kind + 's'))[n != 1]}" for kind, n in counts.items()]
    return " and ".join(filter(None, [", ".join(said[:-1]), said[-1]])) if said else "nothing"


def _query(values: Mapping[str, Any]) -> str:
    return "?" + urlencode(values) if values else ""


# template filters --------------------------------------------------------------------------
@blueprint.app_template_filter("state_word")
def state_word(state: str | None) -> str:
    return STATE_WORDS.get(state or "", state or "—")


@blueprint.app_template_filter("state_hint")
def state_hint(state: str | None) -> str:
    return STATE_HINTS.get(state or "", "")


@blueprint.app_template_filter("part_word")
def part_word(part: str | None) -> str:
    return PART_WORDS.get(part or "", (part or "—").capitalize())


@blueprint.app_template_filter("trigger_word")
def trigger_word(trigger: str | None) -> str:
    return TRIGGERS.get(trigger or "", (trigger or "—").capitalize())


@blueprint.app_template_filter("kind_word")
def kind_word(kind: str | None) -> str:
    return KINDS.get(kind or "", (kind or "object", ""))[0]


@blueprint.app_template_filter("problem_of")
def problem_of(problem: str, part: str) -> str:
    """A health problem without the part's name it starts with ("groups: ...")."""
    return problem.removeprefix(f"{part}: ")


@blueprint.app_template_filter("reason_word")
def reason_word(reason: str | None) -> str:
    return CONNECTION_REASONS.get(reason or "", reason or "")


@blueprint.app_template_filter("tally")
def tally(counts: Mapping[str, int] | None) -> str:
    """"4 created · 1 failed": the counts that are not zero ("no changes" when none is)."""
    shown = [f"{counts[n]} {'adopted' if n == 'linked' else n}" for n in COUNTS_SHOWN
             if (counts or {}).get(n)]
    return " · ".join(shown) or "no changes"


@blueprint.app_template_filter("query")
def with_query(path: str, values: Mapping[str, Any], **changed: Any) -> str:
    """`path` with `values` as its query, some of them changed (None drops one)."""
    merged = {k: v for k, v in ({**values, **changed}).items() if v not in (None, "")}
    return path + _query(merged)


@blueprint.app_template_filter("until")
def until(value: str | None) -> str:
    """"in 5 h 12 min": how long until an ISO time, from now."""
    if not value:
        return ""
    seconds = int((dt.datetime.fromisoformat(value) - dt.datetime.now(dt.UTC)).total_seconds())
    if seconds <= 0:
        return "due now"
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, (rest % 3600 + 59) // 60
    if minutes == 60:
        hours, minutes = hours + 1, 0
    if days:
        return f"in {days} d {hours} h"
    return f"in {hours} h {minutes} min" if hours else f"in {max(minutes, 1)} min"


@blueprint.app_template_filter("in_zone")
def in_zone(value: str | None, zone: str | None) -> str:
    """An ISO time as the wall clock of `zone` shows it: "Wed 2 Dec 2026, 00:30"."""
    if not value:
        return "—"
    moment = dt.datetime.fromisoformat(value)
    try:
        local = moment.astimezone(ZoneInfo(zone or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        local = moment.astimezone(dt.UTC)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


@blueprint.app_template_filter("seconds_word")
def seconds_word(seconds: int) -> str:
    """600 → "10 minutes"; 45 → "45 seconds"."""
    if seconds % 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
