"""The web app's strict JSON reading takes a quick way for bodies with nothing suspect in them
(`parse`) and a careful one for the rest (`parse_carefully`): both must give the same document
or the same refusal for any text. The refusals themselves are checked over HTTP on every JSON
endpoint (tests/test_fuzz_http.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tests.hypothesis_profiles  # noqa: F401  (registers and loads the profiles)
from webhook.hardening import MAX_DEPTH, parse, parse_carefully

LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-(2**60), 2**60),
                   st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=6), st.sampled_from(["\ud800", "\udfff", "x\udc00y"]))
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=4)),
    max_leaves=20)
JSONISH = st.text(alphabet='{}[]:,"\\ue0123456789.-+ENaIfinty dD8', max_size=40)


def outcome(read: Any, text: str) -> tuple[str, Any]:
    try:
        return "read", read(text)
    except ValueError as exc:
        return "refused", str(exc)


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@given(st.one_of(VALUES.map(lambda v: json.dumps(v, ensure_ascii=False)),
                 VALUES.map(json.dumps), JSONISH))
@example('{"a": NaN}')
@example('[Infinity, -Infinity]')
@example('{"a": 1, "a": 2}')
@example('{"a": 9007199254740991}')
@example('{"a": 9007199254740992}')
@example('{"a": 1e308, "b": 1e309}')
@example('{"a": "\\ud83d\\ude00"}')
@example('{"a": "\\ud800"}')
@example('{"a": "\\uDC00", "b": "\\u00e9"}')
@example(nested(MAX_DEPTH))
@example(nested(MAX_DEPTH + 1))
@example("[" * 5000 + "]" * 5000)
def test_both_ways_read_or_refuse_alike(text: str) -> None:
    for raw in (text, text.encode("utf-8", "surrogatepass")):  # as sent, and as a str
        quick, careful = outcome(parse, raw), outcome(parse_carefully, raw)
        if careful[0] == "read" and careful[1] != careful[1]:  # a NaN never equals itself
            pytest.fail("the careful way read a NaN")
        assert quick == careful


def test_bytes_are_utf_8_and_a_bad_byte_is_refused() -> None:
    assert parse('{"name": "Zoë"}'.encode()) == {"name": "Zoë"}
    with pytest.raises(ValueError):
        parse(b'{"name": "\xff"}')
