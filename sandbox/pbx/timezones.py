"""`timezone/list`: the PBX's time zone, on firmware that has several.

"Query Time Zone List" (…/p-series-software-edition/developer-guide/query-time-zone-list.html)
lists time zones; the `global` entry is the PBX's own (`"timezone": "UTC+8 Asia/Shanghai"`).
Older firmware has no such interface and answers 10001, as the simulator does until a zone is
set with `POST /_sandbox/config {"timezone": "UTC+1 Europe/Paris"}`.
"""

from __future__ import annotations

from typing import Any

from sandbox.pbx.api import endpoint, integer, ok
from sandbox.pbx.store import PbxFailure, PbxStore


@endpoint("GET", "timezone/list")
def list_timezones(store: PbxStore, params: dict[str, Any]) -> dict[str, Any]:
    if store.timezone is None:  # firmware without the interface
        raise PbxFailure(10001, invalid_param_list=[
            {"field": "path", "value": "No route for GET /openapi/v1.0/timezone/list"}])
    page, size = integer(params, "page", 1), integer(params, "page_size", 20)
    rows = [{"id": 1, "name": "global_timezone", "timezone": store.timezone,
             "timezone_name": store.timezone, "enable_dst": 1, "timezone_type": "global",
             "feature_code": "*99"}]
    wanted = params.get("timezone_type")
    rows = [r for r in rows if wanted in (None, "", r["timezone_type"])]
    return ok(total_number=len(rows), data=rows[(page - 1) * size:page * size])
