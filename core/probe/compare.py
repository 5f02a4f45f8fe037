"""Comparing a JSON answer with a `Shape`: pure, and never quoting a value that is not listed in
the shape (an answer may hold tokens or personal data; only enumerated values are shown)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from core.probe.assumptions import Field, Shape


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_ok(value: Any, types: tuple[str, ...]) -> bool:
    found = json_type(value)
    return found in types or (found == "integer" and "number" in types)


def differences(expected: Shape, answer: Any, where: str = "") -> list[str]:
    """Every way `answer` departs from `expected`, each as one short sentence."""
    if not isinstance(answer, dict):
        return [f"{where or 'answer'}: object expected, {json_type(answer)} found"]
    found = []
    for name, spec in expected.fields.items():
        path = f"{where}.{name}" if where else name
        if name not in answer:
            if spec.required:
                found.append(f"{path}: missing")
            continue
        found += _field(spec, answer[name], path)
    return found


def _field(spec: Field, value: Any, path: str) -> list[str]:
    if "unknown" in spec.types:
        return [f"{path}: the product asks for it but the probe has no assumption about it"]
    if not _type_ok(value, spec.types):
        return [f"{path}: {' or '.join(spec.types)} expected, {json_type(value)} found"]
    if spec.values and value not in spec.values:
        allowed = ", ".join("null" if v is None else str(v) for v in spec.values)
        return [f"{path}: {repr(value)[:60]} is not one of {allowed}"]
    if isinstance(value, list) and spec.items is not None:
        return each(spec.items, value, f"{path}[]")
    if isinstance(value, dict) and spec.shape is not None:
        return differences(spec.shape, value, path)
    return []


def each(expected: Shape | str, items: list[Any], where: str) -> list[str]:
    """The differences of every item, each distinct one once, with how many items show it."""
    counts: Counter[str] = Counter()
    for item in items:
        if isinstance(expected, str):
            problems = ([] if _type_ok(item, (expected,))
                        else [f"{where}: {expected} expected, {json_type(item)} found"])
        else:
            problems = differences(expected, item, where)
        counts.update(set(problems))
    return [problem if n == len(items) == 1 else f"{problem} ({n} of {len(items)})"
            for problem, n in sorted(counts.items())]


def values_seen(items: list[Any], name: str) -> list[str]:
    """The distinct string values of `name` among `items` (for notes on enumerations)."""
    return sorted({str(i[name]) for i in items if isinstance(i, dict) and name in i})
