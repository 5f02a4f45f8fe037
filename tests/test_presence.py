"""Teams presence onto extension presence: the defaults of SPEC P2, maps, and one-way updates."""

from __future__ import annotations

from core.graph.records import Presence
from core.presence.plan import DEFAULT_MAP, effective, map_errors, plan_presence, target
from core.presence.records import PresenceUpdate

EXTS = {"u1": (11, "1001"), "u2": (12, "1002")}


def test_defaults_follow_the_specification() -> None:
    mapping = effective(None)["map"]

    assert [target(a, mapping) for a in ("Available", "Busy", "DoNotDisturb", "BeRightBack",
                                          "Away", "Offline")] == [
        "available", "away", "do_not_disturb", "lunch", "off_work", "off_work"]
    assert target("PresenceUnknown", mapping) is None
    assert target("focusing", mapping) is None  # an open string we do not know: no change


def test_availability_is_matched_whatever_its_case() -> None:
    assert target("busy", DEFAULT_MAP) == target("BUSY", DEFAULT_MAP) == "away"


def test_a_partial_map_keeps_the_defaults_for_the_rest() -> None:
    chosen = effective({"enabled": True, "map": {"busy": "business_trip"}})

    assert chosen["map"]["Busy"] == "business_trip"
    assert chosen["map"]["Available"] == "available"


def test_bad_maps_are_refused_field_by_field() -> None:
    errors = map_errors({"enabled": "yes", "map": {"Busy": "napping", "Sleeping": "away"},
                         "colour": "red"})

    assert set(errors) == {"enabled", "map.Busy", "map.Sleeping", "colour"}
    assert map_errors({"enabled": False, "map": {"PresenceUnknown": "away"}}) == {}


def test_only_changed_availability_is_applied_and_disabled_extensions_are_left_alone() -> None:
    presences = [Presence("u1", "Busy"), Presence("u2", "Available"), Presence("u9", "Busy")]

    first = plan_presence(presences, EXTS, {"u2": {"enabled": False}}, {})
    again = plan_presence(presences, EXTS, {}, {"u1": "Busy", "u2": "Available"})

    assert first == (PresenceUpdate("u1", 11, "1001", "Busy", "away"),)
    assert again == ()


def test_the_encryption_certificate_is_made_once_kept_sealed_and_renewed_before_expiry() -> None:
    import base64
    import datetime as dt
    import json

    from cryptography import x509

    from core.presence.subscription import certificate
    from core.secret_box import SecretBox
    from core.store.stub import stub_store

    state, box = stub_store(), SecretBox("presence-test-key-Qe6Wr1Zt8Kx3Nm5Lv9Dp2Hs")
    now = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)

    first = certificate(state, box, now)
    again = certificate(state, box, now + dt.timedelta(days=600))
    renewed = certificate(state, box, now + dt.timedelta(days=710))

    made = x509.load_der_x509_certificate(base64.b64decode(first[0]))
    stored = json.loads(state.redis.get(state.keys.presence("certificate")))
    assert again == first and renewed[1] != first[1]
    assert made.not_valid_after_utc == now + dt.timedelta(days=730)
    assert "PRIVATE KEY" not in stored["key"] and "PRIVATE KEY" in box.open(stored["key"])
