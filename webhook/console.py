"""The admin console: server-rendered pages over the admin JSON API.

Each page reads its data by calling the very view of the admin API a script would call
(`from_api`), so the page and the API cannot disagree; every change a page makes goes through
the JSON API from `static/console.js` (with `X-Requested-With`, as the API asks of a session).
A browser without an administrator's session gets the sign-in page instead.

Pages register themselves with `page(path, name, title)`; `NAV` lists those shown in the
navigation, in the manual's order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, render_template, request
from markupsafe import Markup, escape

from webhook.api_connection import status
from webhook.auth import admin_session

blueprint = Blueprint("console", __name__)
NAV = (("/", "Status"), ("/settings", "Settings"), ("/runs", "Runs"),
       ("/extensions", "Extensions"), ("/provision", "Provision a user"), ("/audit", "Audit log"))


def admin_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """The page for an administrator's session; the sign-in page for anyone else."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not admin_session():
            if request.headers.get("HX-Request"):  # a page refreshing itself: reload it whole
                return Response(status=204, headers={"HX-Refresh": "true"})
            return render("console/login.html", "Sign in")
        return view(*args, **kwargs)

    return guarded


def from_api(view: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, Any]:
    """What an admin API view answers to this request (its query arguments included):
    the status and the JSON. The caller has checked the session: the view's own `admin_only`
    guard is passed over, since a page's GET carries no `X-Requested-With`."""
    answer = getattr(view, "__wrapped__", view)(*args, **kwargs)
    response, status = answer if isinstance(answer, tuple) else (answer, answer.status_code)
    return status, response.get_json()


def render(template: str, title: str, *, status: int = 200, **context: Any) -> Response:
    """A console page: `template` inside the layout, with the navigation."""
    body = render_template(template, title=title, nav=NAV, here=request.path, **context)
    return Response(body, status=status, mimetype="text/html")


@blueprint.app_template_filter("when")
def when(value: str | None) -> Markup:
    """An ISO time as a `<time>` the browser shows in its local time (UTC without script)."""
    if not value:
        return Markup("—")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return Markup(escape(value))
    shown = moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}">{}</time>').format(moment.isoformat(), shown)


@blueprint.app_template_filter("duration")
def duration(run: dict[str, Any]) -> str:
    """How long a run took (or has taken so far), as an administrator reads it."""
    started, finished = run.get("started_at"), run.get("finished_at")
    if not started:
        return "—"
    end = dt.datetime.fromisoformat(finished) if finished else dt.datetime.now(dt.UTC)
    seconds = max((end - dt.datetime.fromisoformat(started)).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


@blueprint.get("/")
@admin_page
def status_page() -> Response:
    """Status: the integration, each part's health, the schedule, pending changes, last runs."""
    from webhook.console_runs import status_context  # it builds on this module: import here

    _, shown = from_api(status)
    return render("console/status.html", "Status", **status_context(shown))
