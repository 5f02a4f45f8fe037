"""A signed-in user's Linkus login: what to type in, and setting their own Linkus password.

The password is the `user_password` of the user's own linked extension, written with
`extension/update` and nothing else. No sync lock is taken: a sync never writes that field
(U7 owns names, email, mobile number and title), and the write touches no link. The rule is
checked here first (core/pbx/password.py), so a weak password never reaches the PBX; the PBX
may still refuse, and its answer is shown. The password is never logged, kept or shown.

Each web process holds one PBX client, so one PBX token (the PBX allows 8 per API client; the
worker and the clock hold theirs), built on the first password set.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from flask import current_app

from core.clients import pbx_client
from core.errors import PbxError, SyncError
from core.pbx.client import PbxClient
from core.pbx.password import problems
from core.users.records import Link
from webhook.limits import Limit

LINKUS_PASSWORD = Limit("linkus-password", 5)  # attempts a minute, per user
SET = "Your Linkus password is set."
log = logging.getLogger("webhook")
_building = threading.Lock()


def server_address() -> str | None:
    """The PBX's host name or address, as Linkus asks for it; None when it is not known."""
    base = current_app.extensions["settings"].pbx_base_url
    return urlsplit(base).hostname if base else None


def set_password(link: Link, password: str, confirm: str) -> tuple[int, str]:
    """Set `password` on the user's extension; the status and the sentence to show."""
    if password != confirm:
        return 400, "Not set: the two passwords do not match."
    weak = problems(password, number=link.number)
    if weak:  # a weak password never reaches the PBX
        return 400, _refusal(weak)
    try:
        client = _client()
        extension = client.get_extension(link.ext_id)
        weak = problems(password, number=extension.number,
                        names=(extension.first_name, extension.last_name))
        if weak:
            return 400, _refusal(weak)
        client.update_extension(link.ext_id, {"user_password": password})
    except PbxError as exc:
        log.warning("Linkus password of extension %s not set: errcode %s %s", link.number,
                    exc.errcode, exc.errmsg)
        return 502, (f"Not set: the PBX refused it ({exc.errmsg or 'FAILURE'}, "
                     f"errcode {exc.errcode}).")
    except SyncError as exc:  # not configured, no token, no answer: nothing was changed
        log.warning("Linkus password of extension %s not set: %s", link.number,
                    type(exc).__name__)
        return 503, "Not set: the PBX cannot be reached now. Try again in a few minutes."
    return 200, SET


def _refusal(found: list[str]) -> str:
    return "Not set: the password " + "; ".join(found) + "."


def _client() -> PbxClient:
    """This process's PBX client, built as core/clients.py builds the workers' one."""
    extensions = current_app.extensions
    with _building:
        if "linkus_pbx" not in extensions:
            extensions["linkus_pbx"] = pbx_client(extensions["settings"])
        client: PbxClient = extensions["linkus_pbx"]
    return client
