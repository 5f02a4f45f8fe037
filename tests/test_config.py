"""Settings.from_env: every problem at once, defaults, and no secret in repr."""

from __future__ import annotations

import pytest

from core.config import Settings
from core.errors import ConfigError

BASE = {"SECRET_KEY": "k" * 32, "PBX_BASE_URL": "http://pbx.local", "PBX_CLIENT_ID": "id",
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
