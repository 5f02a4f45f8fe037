"""What a preview says to an administrator: plain sentences made from its planned rows.

Pure: rows in (core/engine/rows.py), sentences out. For users, numbers are collapsed into
ranges ("1000 to 1044, 1050", with an en dash); names are listed up to `NAMES_SHOWN`, then "and N more".
Contact rows are told apart from phonebook rows by their key: a phonebook's is
`user:<id>` or `mailbox:<id>`, a contact's `<mailbox id>/<contact id>` (core/contacts/plan.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

NAMES_SHOWN = 5
RANGES_SHOWN = 10
DASH = "\u2013"  # an en dash, as a range is typeset
_PARTS = ("users", "groups", "contacts")


def preview_sentences(rows: Iterable[Mapping[str, Any]], parts: Sequence[str], *,
                      limit: int) -> list[str]:
    """The sentences of a preview of `parts`, in the order users, groups, contacts."""
    by_part: dict[str, list[Mapping[str, Any]]] = {p: [] for p in _PARTS}
    for found in rows:
        by_part.setdefault(str(found.get("part")), []).append(found)
    sentences = []
    for part in (p for p in _PARTS if p in parts):
        sentences += _SAYERS[part](by_part[part], limit)
    return sentences


def number_ranges(numbers: Iterable[str]) -> str:
    """"1000\u20131044, 1050": consecutive numbers collapsed; others listed after them."""
    numbers = list(numbers)
    digits = sorted({n for n in numbers if n.isdigit()}, key=lambda n: (int(n), n))
    others = sorted({n for n in numbers if n and not n.isdigit()})
    spans: list[list[str]] = []
    for number in digits:
        if spans and int(number) == int(spans[-1][-1]) + 1:
            spans[-1].append(number)
        else:
            spans.append([number])
    parts = [s[0] if len(s) == 1 else f"{s[0]}{DASH}{s[-1]}" for s in spans] + others
    shown = ", ".join(parts[:RANGES_SHOWN])
    return shown + (f" and {len(parts) - RANGES_SHOWN} more" if len(parts) > RANGES_SHOWN else "")


def names(rows: Sequence[Mapping[str, Any]], *, numbered: bool = False) -> str:
    """"Ann Lee (1003), Bob Ray (1004) and 3 more": the first `NAMES_SHOWN` of `rows`."""
    shown = [f"{r.get('name', '')} ({r['extension']})" if numbered and r.get("extension")
             else str(r.get("name", "")) for r in rows[:NAMES_SHOWN]]
    more = len(rows) - NAMES_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _of(rows: Sequence[Mapping[str, Any]], outcome: str) -> list[Mapping[str, Any]]:
    return [r for r in rows if r.get("outcome") == outcome]


def _listed(rows: Sequence[Mapping[str, Any]], noun: str, verb: str, *, always: bool = False,
            numbered: bool = False, extra: str = "") -> list[str]:
    """"2 extension groups will be deleted: Sales, Support" (nothing when none, unless
    `always`)."""
    if not rows and not always:
        return []
    said = f"{_count(len(rows), noun)} will be {verb}{extra}"
    return [f"{said}: {names(rows, numbered=numbered)}" if rows else said]


def _held(rows: Sequence[Mapping[str, Any]], limit: int, numbered: bool) -> list[str]:
    return _listed(rows, "deletion", "held back", numbered=numbered,
                   extra=f", more than safety.max_deletions ({limit}) in one run")


def _users(rows: Sequence[Mapping[str, Any]], limit: int) -> list[str]:
    created = _of(rows, "created")
    said = [f"{_count(len(created), 'extension')} will be created"
            + (f" ({number_ranges(r['extension'] for r in created)})" if created else "")]
    adopted = _of(rows, "adopted")
    by_email = all(str(r.get("reason", "")).startswith("matched by email") for r in adopted)
    said += _listed(adopted, "existing extension", "adopted", numbered=True,
                    extra=" by email" if by_email else "")
    said += _listed(_of(rows, "updated"), "extension", "updated", always=True, numbered=True)
    said += _listed(_of(rows, "released"), "extension", "released", always=True, numbered=True,
                    extra=" (kept on the PBX, no longer synced)")
    said += _listed(_of(rows, "deleted"), "extension", "deleted", always=True, numbered=True)
    said += _listed(_of(rows, "skipped"), "user", "skipped")
    return said + _held(_of(rows, "held"), limit, numbered=True)


def _groups(rows: Sequence[Mapping[str, Any]], limit: int) -> list[str]:
    said = []
    for outcome in ("created", "updated", "released", "deleted"):
        said += _listed(_of(rows, outcome), "extension group", outcome, always=True,
                        extra=" (kept on the PBX, no longer synced)"
                        if outcome == "released" else "")
    return said + _listed(_of(rows, "skipped"), "group", "skipped") + _held(
        _of(rows, "held"), limit, numbered=False)


def _is_phonebook(row: Mapping[str, Any]) -> bool:
    key = str(row.get("object_id", ""))
    return "/" not in key and key.count(":") == 1 and key.split(":")[0] in ("user", "mailbox")


def _contacts(rows: Sequence[Mapping[str, Any]], limit: int) -> list[str]:
    books = [r for r in rows if _is_phonebook(r)]
    contacts = [r for r in rows if not _is_phonebook(r)]
    said = []
    for outcome, verb in (("created", "created"), ("updated", "renamed"), ("deleted", "deleted")):
        said += _listed(_of(books, outcome), "phonebook", verb)
    for outcome in ("created", "updated", "deleted"):
        found = _of(contacts, outcome)
        said.append(f"{_count(len(found), 'contact')} will be {outcome}")
    said += _listed(_of(contacts, "skipped"), "contact", "skipped")
    return said + _held(_of(rows, "held"), limit, numbered=False)


_SAYERS = {"users": _users, "groups": _groups, "contacts": _contacts}
