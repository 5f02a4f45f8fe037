"""The words every page shows for a Teams availability and an extension's presence status.

Teams' names are Microsoft's (Available, Busy, Do not disturb, Be right back; Graph's `Away`
and `Offline` are also what Appear away and Appear offline report); the extension's are the
Yeastar manual's. `install(app)` makes `teams_status(name)` and `extension_status(value)`
globals of every template: the console's pages and the user's own /me.
"""

from __future__ import annotations

from flask import Flask

TEAMS_STATUS = {"Available": "Available", "AvailableIdle": "Available (idle)", "Busy": "Busy",
                "BusyIdle": "Busy (idle)", "DoNotDisturb": "Do not disturb",
                "BeRightBack": "Be right back", "Away": "Away (or appear away)",
                "Offline": "Offline (or appear offline)", "PresenceUnknown": "Unknown"}
EXTENSION_STATUS = {"available": "Available", "away": "Away", "business_trip": "Business Trip",
                    "do_not_disturb": "Do Not Disturb", "lunch": "Lunch Break",
                    "off_work": "Off Work"}


def teams_status(name: str) -> str:
    """A Teams availability (`DoNotDisturb`) as Teams words it; an unknown one as given."""
    return TEAMS_STATUS.get(name, name)


def extension_status(value: str | None) -> str:
    """A PBX presence status (`lunch`) as the manual words it; none is "no change"."""
    return EXTENSION_STATUS.get(value or "", value or "no change")


def install(app: Flask) -> None:
    """Make both labels template globals of `app`."""
    app.add_template_global(teams_status)
    app.add_template_global(extension_status)
