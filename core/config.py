"""Every environment variable the product reads, read in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import ConfigError
from core.secret_box import signing_key

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
ENTRA_VARIABLES = ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET")
PBX_VARIABLES = ("PBX_BASE_URL", "PBX_CLIENT_ID", "PBX_CLIENT_SECRET")
MIN_KEY_CHARS = 32
MIN_DISTINCT_CHARS = 10
MAKE_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
# the SECRET_KEY of .env.example, then and now: copied as they are, they are known to all
EXAMPLE_KEYS = ("change-me-to-a-long-random-string",
                "replace-with-the-output-of-the-command-in-the-comment-above")


@dataclass(frozen=True)
class Settings:
    """Process configuration from the environment; secrets are kept out of `repr`."""

    secret_key: str
    secret_key_fallbacks: tuple[str, ...] = ()
    redis_url: str = DEFAULT_REDIS_URL
    public_base_url: str | None = None
    entra_tenant_id: str | None = None
    entra_client_id: str | None = None
    entra_client_secret: str | None = None
    entra_authority_host: str = DEFAULT_AUTHORITY_HOST
    graph_base_url: str = DEFAULT_GRAPH_BASE_URL
    entra_ca_bundle: str | None = None
    pbx_base_url: str | None = None
    pbx_client_id: str | None = None
    pbx_client_secret: str | None = None
    pbx_ca_bundle: str | None = None
    admin_token: str | None = None
    debounce_window_seconds: int = 600
    debounce_max_changes: int = 10
    trusted_proxy_hops: int = 0  # reverse proxies in front of `web` whose X-Forwarded-* count

    def __repr__(self) -> str:
        return (f"Settings(redis_url={self.redis_url!r}, graph_base_url={self.graph_base_url!r}, "
                f"pbx_base_url={self.pbx_base_url!r}, entra_tenant_id={self.entra_tenant_id!r})")

    @property
    def signing_key(self) -> bytes:
        """The session-signing key derived from SECRET_KEY (the sealing key is another)."""
        return signing_key(self.secret_key)

    @property
    def signing_key_fallbacks(self) -> tuple[bytes, ...]:
        """The signing keys of SECRET_KEY_FALLBACKS: sessions they signed stay valid."""
        return tuple(signing_key(key) for key in self.secret_key_fallbacks)

    @property
    def has_entra_credentials(self) -> bool:
        return bool(self.entra_tenant_id and self.entra_client_id and self.entra_client_secret)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, require_pbx: bool = True) -> Settings:
        """Read the settings; raises ConfigError listing every missing or invalid variable."""
        env = {k: v.strip() for k, v in environ.items() if v and v.strip()}
        problems: list[str] = []
        if "SECRET_KEY" not in env:
            problems.append("SECRET_KEY is required (it signs sessions and encrypts secrets): "
                            f"make one with {MAKE_KEY}")
        for name in ("SECRET_KEY", "ADMIN_TOKEN"):
            if name in env:
                problems += _weak_key(name, env[name])
        fallbacks = tuple(dict.fromkeys(
            key.strip() for key in env.get("SECRET_KEY_FALLBACKS", "").split(",")
            if key.strip() and key.strip() != env.get("SECRET_KEY")))
        if require_pbx:
            problems += [f"{name} is required" for name in PBX_VARIABLES if name not in env]
        given = [name for name in ENTRA_VARIABLES if name in env]
        if given and len(given) < len(ENTRA_VARIABLES):
            problems += [f"{name} is required with {', '.join(given)}"
                         for name in ENTRA_VARIABLES if name not in env]
        public = env.get("PUBLIC_BASE_URL")
        if public and not (_url_ok(public, ("https",)) or _loopback_http(public)):
            problems.append("PUBLIC_BASE_URL must be an https URL (http only on 127.0.0.1 or "
                            "localhost, for the sandbox)")
        for name, schemes in (("PBX_BASE_URL", ("http", "https")),
                              ("ENTRA_AUTHORITY_HOST", ("https",)),
                              ("GRAPH_BASE_URL", ("https", "http")),
                              ("REDIS_URL", ("redis", "rediss", "unix"))):
            if name in env and not _url_ok(env[name], schemes):
                problems.append(f"{name} must be a URL with scheme {' or '.join(schemes)}")
        for name in ("ENTRA_CA_BUNDLE", "PBX_CA_BUNDLE"):
            if name in env and not Path(env[name]).is_file():
                problems.append(f"{name} names no readable file: {env[name]}")
        numbers = {}
        for name, default in (("DEBOUNCE_WINDOW_SECONDS", 600), ("DEBOUNCE_MAX_CHANGES", 10),
                              ("TRUSTED_PROXY_HOPS", 0)):
            raw = env.get(name, str(default))
            if not raw.isdigit() or (int(raw) < 1 and name != "TRUSTED_PROXY_HOPS"):
                problems.append(f"{name} must be a positive whole number, not {raw!r}")
            else:
                numbers[name] = int(raw)
        if problems:
            raise ConfigError(problems)
        return cls(
            secret_key=env["SECRET_KEY"],
            secret_key_fallbacks=fallbacks,
            redis_url=env.get("REDIS_URL", DEFAULT_REDIS_URL),
            public_base_url=env.get("PUBLIC_BASE_URL"),
            entra_tenant_id=env.get("ENTRA_TENANT_ID"),
            entra_client_id=env.get("ENTRA_CLIENT_ID"),
            entra_client_secret=env.get("ENTRA_CLIENT_SECRET"),
            entra_authority_host=env.get("ENTRA_AUTHORITY_HOST", DEFAULT_AUTHORITY_HOST).rstrip("/"),
            graph_base_url=env.get("GRAPH_BASE_URL", DEFAULT_GRAPH_BASE_URL).rstrip("/"),
            entra_ca_bundle=env.get("ENTRA_CA_BUNDLE"),
            pbx_base_url=env["PBX_BASE_URL"].rstrip("/") if "PBX_BASE_URL" in env else None,
            pbx_client_id=env.get("PBX_CLIENT_ID"),
            pbx_client_secret=env.get("PBX_CLIENT_SECRET"),
            pbx_ca_bundle=env.get("PBX_CA_BUNDLE"),
            admin_token=env.get("ADMIN_TOKEN"),
            debounce_window_seconds=numbers["DEBOUNCE_WINDOW_SECONDS"],
            debounce_max_changes=numbers["DEBOUNCE_MAX_CHANGES"],
            trusted_proxy_hops=numbers["TRUSTED_PROXY_HOPS"],
        )


def _weak_key(name: str, value: str) -> list[str]:
    """Why `value` will not do as a key or token, if it will not: random data is wanted."""
    if value in EXAMPLE_KEYS or "change-me" in value.lower():
        return [f"{name} is the example value of .env.example: make a random one with {MAKE_KEY}"]
    if len(value) < MIN_KEY_CHARS:
        return [f"{name} must be at least {MIN_KEY_CHARS} characters of random data, not "
                f"{len(value)}: make one with {MAKE_KEY}"]
    if len(set(value)) < MIN_DISTINCT_CHARS:
        return [f"{name} does not look random ({len(set(value))} distinct characters): make one "
                f"with {MAKE_KEY}"]
    return []


def _url_ok(value: str, schemes: tuple[str, ...]) -> bool:
    parts = urlsplit(value)
    return parts.scheme in schemes and (bool(parts.netloc) or parts.scheme == "unix")


def _loopback_http(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
