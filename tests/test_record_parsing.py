"""Graph users and PBX extensions are parsed without marshmallow when their answers are plain
JSON (the fast way), and by their schema otherwise: the two ways must give the same record, or
both refuse, for whatever an answer holds."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from marshmallow import ValidationError

import tests.hypothesis_profiles  # noqa: F401  (registers and loads the profiles)
from core.errors import PbxError
from core.graph.records import UserSchema, parse_user
from core.pbx.records import ExtensionSchema, parse_extension

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
                    st.text(max_size=4), st.sampled_from(["1001", "Member", "Guest", "", "x@y"]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.text(max_size=2),
                                                                            SCALARS, max_size=2))

USER_KEYS = ("id", "displayName", "givenName", "surname", "mail", "userPrincipalName",
             "mobilePhone", "businessPhones", "jobTitle", "accountEnabled", "userType",
             "employeeId", "onPremisesExtensionAttributes")
EXTENSION_KEYS = ("id", "number", "caller_id_name", "email_addr", "mobile_number",
                  "presence_status", "first_name", "last_name", "title", "online_status")


def answers(keys: tuple[str, ...], plain: dict[str, st.SearchStrategy[Any]]) -> Any:
    """Rows with any of `keys`, each either a plain value of its kind or anything at all."""
    value = {k: st.one_of(plain.get(k, VALUES), VALUES) for k in keys}
    return st.fixed_dictionaries({}, optional=value)


PLAIN_USER = {"id": st.text(min_size=1, max_size=6), "businessPhones": st.lists(st.text(max_size=3)),
              "accountEnabled": st.one_of(st.none(), st.booleans()),
              **{k: st.one_of(st.none(), st.text(max_size=5)) for k in USER_KEYS[1:7] + USER_KEYS[8:11]}}
PLAIN_EXTENSION = {"id": st.integers(1, 10**6), **{k: st.text(max_size=5)
                                                    for k in EXTENSION_KEYS[1:]}}


def schema_user(raw: dict[str, Any]) -> Any:
    return replace(UserSchema().load(raw), properties=dict(raw))


@given(answers(USER_KEYS, PLAIN_USER))
@example({"id": "u1", "accountEnabled": None, "userType": None, "businessPhones": None})
@example({"id": "u1", "accountEnabled": 1})
@example({"id": 7})
def test_a_user_parses_the_same_either_way(raw: dict[str, Any]) -> None:
    try:
        expected = schema_user(raw)
    except ValidationError:
        with pytest.raises(ValidationError):
            parse_user(raw)
        return
    assert parse_user(raw) == expected


@given(answers(EXTENSION_KEYS, PLAIN_EXTENSION))
@example({"id": 12, "number": "1001"})
@example({"id": True, "number": "1001"})
@example({"id": "12", "number": "1001"})
@example({"id": 12, "number": "1001", "email_addr": None})
def test_an_extension_parses_the_same_either_way(row: dict[str, Any]) -> None:
    try:
        expected = ExtensionSchema().load(row)
    except ValidationError:
        with pytest.raises(PbxError, match="unexpected extension shape"):
            parse_extension(row)
        return
    assert parse_extension(row) == expected
