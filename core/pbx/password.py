"""The PBX's rule for an extension's `user_password`, its Linkus and web-portal login.

contracts/yeastar.md §6.3 (Add an Extension): digits, upper- and lower-case letters, 10 to 63
characters; Cloud Edition adds no 4 consecutive digits, no 4 same digits, and not the extension
number, first or last name. The product holds every password to the stricter Cloud rule, so a
password it accepts is one any edition accepts. Where the text is short, it is read as:
"consecutive" is a run counting up or down by one (1234, 9876); "same" is one digit four times
in a row (7777); a name is not contained in any letter case. Which characters may appear
beyond letters and digits is not documented: none is refused here, and `generate_password`
uses letters and digits only.
"""

from __future__ import annotations

import itertools
import re
import secrets
import string
from collections.abc import Iterable

MIN_CHARS, MAX_CHARS = 10, 63
RULE = ("10 to 63 characters, with at least one upper-case letter, one lower-case letter and "
        "one digit; no four consecutive digits (like 1234 or 9876) and no digit four times in "
        "a row (like 7777); and it must not contain your extension number, first name or last "
        "name.")


def problems(password: str, *, number: str, names: Iterable[str] = ()) -> list[str]:
    """What keeps `password` from the rule, as phrases completing "the password ..."."""
    found = []
    if not MIN_CHARS <= len(password) <= MAX_CHARS:
        found.append(f"must be {MIN_CHARS} to {MAX_CHARS} characters long")
    for pattern, what in ((r"[A-Z]", "an upper-case letter"), (r"[a-z]", "a lower-case letter"),
                          (r"[0-9]", "a digit")):
        if not re.search(pattern, password):
            found.append(f"must contain {what}")
    if _has_run(password, steps=(1, -1)):
        found.append("must not contain four consecutive digits (like 1234 or 9876)")
    if _has_run(password, steps=(0,)):
        found.append("must not contain a digit four times in a row (like 7777)")
    lowered = password.lower()
    if number and number in password:
        found.append("must not contain your extension number")
    if any(name.strip() and name.strip().lower() in lowered for name in names):
        found.append("must not contain your first name or last name")
    return found


def generate_password(length: int = 20, *, number: str = "", names: Iterable[str] = ()) -> str:
    """A random password of letters and digits, `length` long, that this rule accepts."""
    alphabet = string.ascii_letters + string.digits
    names = tuple(names)
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if not problems(candidate, number=number, names=names):
            return candidate


def _has_run(password: str, *, steps: tuple[int, ...]) -> bool:
    """Whether four digits in a row each differ from the one before by the same step."""
    for start in range(len(password) - 3):
        chunk = password[start : start + 4]
        if chunk.isascii() and chunk.isdigit():
            digits = [int(c) for c in chunk]
            if any(all(b - a == step for a, b in itertools.pairwise(digits))
                   for step in steps):
                return True
    return False
