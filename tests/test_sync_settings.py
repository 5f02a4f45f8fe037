"""The settings document: defaults, partial updates, and every error at once."""

from __future__ import annotations

import pytest

from core.engine.runs import Run
from core.store.runs import RUNS_KEPT
from core.store.stub import stub_store
from core.sync_settings import SettingsInvalid, defaults, merge, validate_document


def test_defaults_are_a_valid_document() -> None:
    assert validate_document(defaults()) == defaults()
    assert defaults()["schedule"]["time"] == "00:30"


def test_partial_update_merges_objects_and_replaces_lists() -> None:
    merged = merge(defaults(), {"users": {"range": "types", "user_types": ["Member", "Guest"],
                                          "numbering": {"start": "2000"}}})

    assert merged["users"]["user_types"] == ["Member", "Guest"]
    assert merged["users"]["numbering"] == {"mode": "auto", "start": "2000",
                                            "property": "businessPhones", "on_change": "report"}
    assert merged["groups"] == defaults()["groups"]


def test_every_field_error_is_reported_at_once() -> None:
    with pytest.raises(SettingsInvalid) as caught:
        merge(defaults(), {"users": {"range": "groups", "group_ids": [], "bogus": True,
                                     "numbering": {"start": "12345678"}},
                           "schedule": {"time": "24:00", "timezone": "Mars/Olympus"},
                           "safety": {"max_deletions": -1}})

    assert set(caught.value.errors) == {"users.group_ids", "users.bogus",
                                        "users.numbering.start", "schedule.time",
                                        "schedule.timezone", "safety.max_deletions"}


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(SettingsInvalid):
        merge(defaults(), ["users"])


def test_store_keeps_settings_and_caps_run_history() -> None:
    store = stub_store()
    document = merge(defaults(), {"safety": {"max_deletions": 5}})
    store.save_settings(document)
    for _ in range(RUNS_KEPT + 5):
        store.save_run(Run.new("users"))

    assert store.settings()["safety"]["max_deletions"] == 5
    assert store.redis.llen(store.keys.runs()) == RUNS_KEPT
    assert len(store.runs(limit=10)) == 10
