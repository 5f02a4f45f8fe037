"""The console's Settings page: one form per part of the settings document, in the manual's order
(then what the manual does not have: the safety limit and the PBX's load).

The page reads the settings, the status and the presence authorization from the admin API's
own views (`from_api`); every change goes back through the JSON API from
`static/settings.js` and the scripts beside it (`pickers.js`, `preview.js`,
`settings-actions.js`), which show the dry run of a save that turns a sync part on or changes
its rules (`POST /api/settings/preview`) before saving it. Chosen groups are stored by id: the
page shows their names, read from the synced groups, then from Entra ID in one `$batch`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from zoneinfo import available_timezones

from flask import Blueprint, Response, current_app

from core.errors import ConfigError, SyncError
from core.presence.plan import AVAILABILITY, DEFAULT_MAP, PBX_PRESENCE
from webhook import presence_auth
from webhook.api import get_settings
from webhook.api_connection import status
from webhook.console import admin_page, from_api, render

blueprint = Blueprint("console_settings", __name__)

SECTIONS = (("connection", "Connection"), ("users", "Users"), ("groups", "Groups"),
            ("contacts", "Outlook contacts"), ("presence", "Teams presence"),
            ("sso", "Sign-in with Microsoft"), ("schedule", "Schedule"), ("safety", "Safety"),
            ("performance", "Performance"))
USER_PROPERTIES = (("businessPhones", "the first business phone"),
                   ("mobilePhone", "the mobile phone"),
                   ("employeeId", "the employee id"),
                   *((f"onPremisesExtensionAttributes.extensionAttribute{i}",
                      f"extension attribute {i}") for i in range(1, 16)))
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NAMES_RESOLVED = 100  # chosen groups whose names one page read looks up in Entra ID
NAMES_KEPT_SECONDS = 600  # a name read from Entra ID is shown for this long without asking again
NAMES_KEPT = 5000
_NAMES: dict[str, tuple[float, dict[str, str]]] = {}  # group id → (read at, name and type)
_ZONES: list[str] = []


@blueprint.get("/settings")
@admin_page
def settings_page() -> Response:
    """Settings: Connection, Users, Groups, Outlook contacts, Teams presence, SSO, Schedule,
    Safety — each part's form, its switch and its actions."""
    _, document = from_api(get_settings)
    _, shown = from_api(status)
    code, authorization = from_api(presence_auth.show)
    return render("console/settings.html", "Settings", settings=document, info=shown,
                  locks=locks(shown), names=group_names(chosen_groups(document)),
                  authorization=authorization if code == 200 else {"authorized": False},
                  sections=SECTIONS, presence_map=[(k, DEFAULT_MAP.get(k)) for k in AVAILABILITY],
                  pbx_presence=PBX_PRESENCE, user_properties=USER_PROPERTIES,
                  weekdays=WEEKDAYS, zones=zones(), pbx_zone=pbx_zone(shown))


def pbx_zone(shown: dict[str, Any]) -> str | None:
    """The PBX's own time zone, where the last health check could read it."""
    return ((shown.get("health") or {}).get("pbx") or {}).get("timezone")


def locks(shown: dict[str, Any]) -> dict[str, str | None]:
    """Why each part's form is read-only now (the API would answer 409), or None."""
    state = shown.get("state")
    whole = {"disabled": "The integration is disabled: its settings are kept and read-only. "
                         "Enable it under Connection to change them.",
             "disconnected": "The integration is disconnected: connect a tenant under "
                             "Connection to change the settings."}.get(str(state))
    found: dict[str, str | None] = {part: whole for part, _ in SECTIONS[1:]}
    if not whole and (shown.get("users") or {}).get("paused"):
        found["users"] = ("User sync is paused: its settings are kept and read-only, and the "
                          "synced extensions stay linked and locked. Resume it to change them.")
    if not whole and (shown.get("groups") or {}).get("paused"):
        found["groups"] = ("Group sync is paused: its settings are kept and read-only, and the "
                           "synced extension groups stay linked and locked. Resume it to "
                           "change them.")
    found["advanced"] = whole
    return found


def chosen_groups(document: dict[str, Any]) -> list[str]:
    """Every group id the document names, in the order the page shows them."""
    lists = (document["users"]["group_ids"], document["groups"]["group_ids"],
             document["contacts"]["personal"]["group_ids"], document["sso"]["admin_group_ids"])
    return list(dict.fromkeys(gid for ids in lists for gid in ids))


def group_names(ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """`{id: {"name", "type"}}` for the groups it can name: synced ones from the store, the
    rest from Entra ID (one `$batch`, skipped when the tenant cannot be read), whose answers
    this process keeps ten minutes so that a page load seldom waits on Graph."""
    state = current_app.extensions["state"]
    wanted = list(ids)
    links = state.group_links()
    now = time.monotonic()
    found = {gid: {"name": links[gid].name, "type": ""} for gid in wanted if gid in links}
    for gid in wanted:
        kept = _NAMES.get(gid)
        if gid not in found and kept and now - kept[0] < NAMES_KEPT_SECONDS:
            found[gid] = kept[1]
    missing = [gid for gid in wanted if gid not in found][:NAMES_RESOLVED]
    if not missing:
        return found
    try:
        graph = current_app.extensions["graph"]()
        answers = graph.batch([{"id": str(n), "method": "GET",
                                "url": f"/groups/{gid}?$select=id,displayName,groupTypes,"
                                       "securityEnabled"}
                               for n, gid in enumerate(missing)])
    except (ConfigError, SyncError, KeyError):  # not connected, or Graph said no
        return found
    if len(_NAMES) > NAMES_KEPT:
        _NAMES.clear()
    for gid, answer in zip(missing, answers, strict=True):
        body = answer.get("body") or {}
        if answer.get("status") == 200 and body.get("displayName"):
            kind = ("microsoft365" if "Unified" in (body.get("groupTypes") or [])
                    else "security" if body.get("securityEnabled") else "")
            found[gid] = {"name": str(body["displayName"]), "type": kind}
        elif answer.get("status") == 404:
            found[gid] = {"name": "", "type": "", "gone": "true"}
        if gid in found:
            _NAMES[gid] = (now, found[gid])
    return found


def zones() -> list[str]:
    """The IANA time zones to choose from (Area/Location names, and UTC)."""
    if not _ZONES:
        _ZONES.extend(sorted(z for z in available_timezones()
                             if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/"))
                             and z.split("/")[0][0].isupper()))
        _ZONES.insert(0, "UTC")
    return _ZONES
