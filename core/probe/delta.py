"""Delta queries in the probe: a first round to its deltaLink, a round from that link, and the
`$deltatoken=latest` form ("sync from now"), each page compared with graph.md §2."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.probe.assumptions import DELTA_PAGE, REMOVED, Shape
from core.probe.compare import differences, each
from core.probe.report import Check, answered

Get = Callable[..., Any]


def delta_checks(get: Get, path: str, select: tuple[str, ...], item: Shape, permission: str | None,
                 *, max_pages: int) -> list[Check]:
    """Three checks of one delta function (`users/delta`, `groups/delta`)."""
    params = {"$select": ",".join(select)}
    first = Check(f"graph {path}", f"GET /{path}?$select=…, every page to its deltaLink",
                  DELTA_PAGE.source, permission)
    link = None
    with answered(first):
        link = read_round(first, get, get(path, params), item, max_pages)
    again = Check(f"graph {path} round", f"GET the deltaLink of a {path} round",
                  DELTA_PAGE.source, permission)
    if link:
        with answered(again):
            read_round(again, get, get(link), item, max_pages)
    else:
        again.note("not run: the first round ended without a deltaLink")
    latest = Check(f"graph {path} latest", f"GET /{path}?$select=…&$deltatoken=latest, then its "
                   "deltaLink", "graph.md §2 (sync from now: a deltaLink and no data)", permission)
    with answered(latest):
        page = get(path, params | {"$deltatoken": "latest"})
        latest.differ(*differences(DELTA_PAGE, page))
        if page.get("value"):
            latest.differ(f"value: empty expected with $deltatoken=latest, "
                          f"{len(page['value'])} items found")
        if "@odata.nextLink" in page:
            latest.differ("@odata.nextLink: none expected with $deltatoken=latest")
        if isinstance(page.get("@odata.deltaLink"), str):
            read_round(latest, get, get(page["@odata.deltaLink"]), item, max_pages)
        else:
            latest.differ("@odata.deltaLink: missing with $deltatoken=latest")
    return [first, again, latest]


def read_round(check: Check, get: Get, page: Any, item: Shape, max_pages: int) -> str | None:
    """Every page of a round, compared; returns the round's deltaLink."""
    changed = removed = 0
    member_types: set[str] = set()
    for _ in range(max_pages):
        check.differ(*differences(DELTA_PAGE, page))
        items = [i for i in page.get("value") or [] if isinstance(i, dict)]
        gone = [i for i in items if "@removed" in i]
        kept = [i for i in items if "@removed" not in i]
        check.differ(*each(REMOVED, gone, "value[]"), *each(item, kept, "value[]"))
        changed, removed = changed + len(kept), removed + len(gone)
        member_types |= {str(m.get("@odata.type")) for i in kept
                         for m in i.get("members@delta") or [] if isinstance(m, dict)}
        following, delta = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
        if following and delta:
            check.differ("a page carries both @odata.nextLink and @odata.deltaLink (graph.md §2)")
        for name, link in (("@odata.nextLink", following), ("@odata.deltaLink", delta)):
            if isinstance(link, str) and "://" not in link:
                check.differ(f"{name}: an absolute URL expected (graph.md §8)")
        if isinstance(delta, str):
            check.note(f"{changed} changed, {removed} removed" + (
                f"; member types: {', '.join(sorted(member_types))}" if member_types else ""))
            return delta
        if not isinstance(following, str):
            check.differ("a page with neither @odata.nextLink nor @odata.deltaLink")
            return None
        page = get(following)
    check.note(f"stopped after {max_pages} pages, before the deltaLink")
    return None
