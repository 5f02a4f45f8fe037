"""The plain HTML page of sign-in, `/me` and presence authorization: a title, a message and,
for a signed-in user, the form of their own extension's presence settings."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template_string

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{{ title }}</title>
<link rel="stylesheet" href="/static/page.css"></head><body>
<h1>{{ title }}</h1>{% if message %}<p>{{ message }}</p>{% endif %}
{% if user %}<p>{{ user.name }} · extension <strong>{{ user.number }}</strong></p>
<form method="post" action="/me/presence">
<input type="hidden" name="csrf" value="{{ csrf }}">
<p><label><input type="checkbox" name="enabled" value="1" {{ "checked" if pref.enabled }}>
Show my Teams status on my extension</label></p>
<table>{% for availability in availabilities %}<tr><td>{{ availability }}</td><td>
<select name="map.{{ availability }}"><option value="">(no change)</option>
{% for status in statuses %}<option value="{{ status }}"
{{ "selected" if pref.map.get(availability) == status }}>{{ status }}</option>{% endfor %}
</select></td></tr>{% endfor %}</table><p><button type="submit">Save</button></p></form>
<form method="post" action="/sso/logout"><input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Sign out</button></form>{% endif %}</body></html>"""


def page(title: str, message: str = "", status: int = 200, **context: Any) -> Response:
    """The page with `title` and `message`; `context` fills the /me form."""
    body = render_template_string(PAGE, title=title, message=message, **context)
    return Response(body, status=status, mimetype="text/html")

