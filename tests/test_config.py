"""Settings.from_env: every problem at once, defaults, keys that are random enough, and no
secret in repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from core.errors import ConfigError
from core.secret_box import signing_key

KEY = "cfg-test-key-Qm3vR8xK2pL9wN4bT7yH1cF5jD0gS6aZ"
BASE = {"SECRET_KEY": KEY, "PBX_BASE_URL": "http://pbx.local", "PBX_CLIENT_ID": "id",
        "PBX_CLIENT_SECRET": "pbx-secret-value"}


def test_every_missing_variable_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"ENTRA_TENANT_ID": "t", "DEBOUNCE_MAX_CHANGES": "ten"})

    problems = "\n".join(caught.value.problems)
    for name in ("SECRET_KEY", "PBX_BASE_URL", "PBX_CLIENT_ID", "PBX_CLIENT_SECRET",
                 "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET", "DEBOUNCE_MAX_CHANGES"):
        assert name in problems
    assert len(caught.value.problems) == 7


def test_defaults_follow_the_documented_table() -> None:
    settings = Settings.from_env(BASE)

    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.entra_authority_host == "https://login.microsoftonline.com"
    assert settings.graph_base_url == "https://graph.microsoft.com/v1.0"
    assert (settings.debounce_window_seconds, settings.debounce_max_changes) == (600, 10)
    assert not settings.has_entra_credentials


def test_authority_must_be_https_and_ca_bundle_must_exist() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(BASE | {"ENTRA_AUTHORITY_HOST": "http://127.0.0.1:1",
                                  "ENTRA_CA_BUNDLE": "/nonexistent.pem"})

    assert len(caught.value.problems) == 2


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env(BASE | {"ENTRA_TENANT_ID": "t", "ENTRA_CLIENT_ID": "c",
                                         "ENTRA_CLIENT_SECRET": "entra-secret-value"})

    shown = repr(settings) + str(settings)
    assert "entra-secret-value" not in shown and "pbx-secret-value" not in shown
    assert settings.has_entra_credentials


@pytest.mark.parametrize("key", ["Qm3vR8xK2pL9wN4bT7yH1cF5", "k" * 32, "abcdabcdabcdabcdabcdabcdabcdabcdabcd",
                                 "change-me-to-a-long-random-string"])
def test_a_short_repetitive_or_example_secret_key_is_refused_with_how_to_make_one(
        key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(BASE | {"SECRET_KEY": key})

    [problem] = caught.value.problems
    assert problem.startswith("SECRET_KEY")
    assert 'python -c "import secrets; print(secrets.token_urlsafe(48))"' in problem


def test_the_secret_key_of_env_example_is_refused() -> None:
    example = dict(line.split("=", 1) for line in
                   (Path(__file__).parent.parent / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))

    with pytest.raises(ConfigError) as caught:
        Settings.from_env(BASE | {"SECRET_KEY": example["SECRET_KEY"]})

    assert caught.value.problems[0].startswith("SECRET_KEY is the example value")


def test_an_admin_token_must_be_long_and_random_when_set() -> None:
    for token in ("admin-token-for-tests-000", "t" * 40):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env(BASE | {"ADMIN_TOKEN": token})
        assert caught.value.problems[0].startswith("ADMIN_TOKEN")

    assert Settings.from_env(BASE).admin_token is None
    assert Settings.from_env(BASE | {"ADMIN_TOKEN": KEY}).admin_token == KEY


def test_fallback_keys_are_a_comma_separated_list_of_any_length() -> None:
    settings = Settings.from_env(BASE | {"SECRET_KEY_FALLBACKS": f" old-16-char-key!, {KEY},, "})

    assert settings.secret_key_fallbacks == ("old-16-char-key!",)
    assert "old-16-char-key!" not in repr(settings)


def test_sessions_are_signed_with_a_key_derived_for_them_alone() -> None:
    settings = Settings.from_env(BASE | {"SECRET_KEY_FALLBACKS": "an-older-secret-key"})
    other = Settings.from_env(BASE | {"SECRET_KEY": KEY[::-1]})

    assert len(settings.signing_key) == 32 and KEY.encode() not in settings.signing_key
    assert settings.signing_key == Settings.from_env(BASE).signing_key
    assert settings.signing_key != other.signing_key
    assert settings.signing_key_fallbacks == (signing_key("an-older-secret-key"),)
