"""Extension numbers (U3): read from a user property, or allocated from a start number.

A property value is read as follows, and never guessed:
- a list (e.g. `businessPhones`) gives its first element;
- a trailing extension marker wins: `+1 425 555 0109 x1234`, `... ext. 1234`, `... #1234`
  give `1234`;
- otherwise spaces and `+ - . ( ) /` are dropped and what is left must be digits;
- the result must be 1 to 7 digits (the PBX's limit), else the user is reported.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

MAX_DIGITS = 7
_EXTENSION_MARKER = re.compile(r"(?:\bx|\bext\.?|\bextension|#)\s*(\d+)\s*$", re.I)
_PUNCTUATION = re.compile(r"[\s+\-.()/]")


def read_property(properties: dict[str, Any], path: str) -> Any:
    """The value at a dotted `path`; a list gives its first element."""
    value: Any = properties
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        value = value[0] if value else None
    return value


def parse_number(value: Any, path: str) -> tuple[str | None, str | None]:
    """`(number, None)` for a usable value, `(None, reason)` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, f"{path} has no value"
    text = str(value).strip()
    marked = _EXTENSION_MARKER.search(text)
    digits = marked.group(1) if marked else _PUNCTUATION.sub("", text)
    if not digits.isdigit():
        return None, f"{path} value {text!r} is not a number"
    if len(digits) > MAX_DIGITS:
        return None, (f"{path} value {text!r} has {len(digits)} digits; an extension number has "
                      f"1 to {MAX_DIGITS}")
    return digits, None


class Allocator:
    """Hands out the lowest free numbers at or above `start`, as wide as `start`.

    Numbers are only ever taken during one plan, so a cursor that never moves back keeps
    allocation linear in the numbers handed out.
    """

    def __init__(self, start: str, taken: Collection[str]) -> None:
        self.width = len(start)
        self.cursor = int(start)
        self.taken = set(taken)

    def take(self) -> str | None:
        """The next free number, now taken; None when the 7-digit space is full."""
        while self.cursor < 10**MAX_DIGITS:
            candidate = str(self.cursor).zfill(self.width)
            self.cursor += 1
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate
        return None
