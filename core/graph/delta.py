"""Delta rounds: what changed since the last round, read to the end before anything is returned.

A caller either gets a complete round with its new delta link or an error: never a partial
view to act on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import GraphError
from core.graph.records import MemberChange, Removed
from core.graph.session import load


@dataclass(frozen=True)
class DeltaRound:
    """Everything a delta round reported, and the link that starts the next one."""

    changed: tuple[Any, ...]
    removed: tuple[Removed, ...]
    delta_link: str
    members: tuple[tuple[str, tuple[MemberChange, ...]], ...] = ()


def delta_round(pages: Iterator[dict[str, Any]], parse: Callable[[dict[str, Any]], Any],
                what: str) -> DeltaRound:
    """Every page of a delta round, read to its deltaLink."""
    changed, removed, link = [], [], None
    for page in pages:
        for raw in page.get("value", []):
            if "@removed" in raw:
                removed.append(Removed(str(raw["id"]), str(raw["@removed"].get("reason"))))
            else:
                changed.append(load(parse, raw, what))
        link = page.get("@odata.deltaLink", link)
    if not link:
        raise GraphError("GET", "(delta round)", 200, "", "NoDeltaLink",
                         "the last page of the delta round carried no @odata.deltaLink")
    return DeltaRound(tuple(changed), tuple(removed), str(link))
