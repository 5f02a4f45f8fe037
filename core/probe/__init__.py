"""The contract probe (`flask --app webhook probe`): every Graph and PBX read the product makes,
answered by the real services and compared with what the simulators assume.

    assumptions.py  the assumptions, as data, each citing its contract section
    compare.py      a JSON answer against a shape (pure)
    graph.py        the Graph reads; delta.py the delta rounds
    pbx.py          the OpenAPI reads; write.py the optional test extension
    report.py       one Check per endpoint, the text report and its JSON
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from core.graph.client import GraphClient
from core.pbx.client import PbxClient
from core.probe.graph import GraphProbe
from core.probe.pbx import PbxProbe
from core.probe.report import Check, Report
from core.probe.write import write_checks


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def run(*, graph: GraphClient | None, pbx: PbxClient, pbx_client_id: str, pbx_client_secret: str,
        credentials: dict[str, str], targets: dict[str, str | None],
        write_number: str | None = None, graph_problem: str = "",
        now: Callable[[], str] = _now) -> Report:
    """Probe both services; writes to the PBX only when `write_number` is given."""
    report = Report(started_at=now(), targets=targets, credentials=credentials,
                    write_test_extension=write_number)
    if graph is None:
        missing = Check("graph token", "(no client)", "graph.md §7.1")
        missing.differ(graph_problem or "no Entra ID credentials, stored or in ENTRA_*")
        report.checks.append(missing)
    else:
        report.checks += GraphProbe(graph).run()
    pbx_checks = PbxProbe(pbx, client_id=pbx_client_id, client_secret=pbx_client_secret).run()
    report.checks += pbx_checks
    if write_number is not None and pbx_checks[0].same:
        report.checks += write_checks(pbx, write_number)
    elif write_number is not None:
        skipped = Check(f"pbx extension/create {write_number}", "(not sent)")
        skipped.differ("not run: the PBX gave no token; nothing was written")
        report.checks.append(skipped)
    report.finished_at = now()
    return report
