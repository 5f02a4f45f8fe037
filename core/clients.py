"""Build the two API clients from the process settings."""

from __future__ import annotations

from core.config import Settings
from core.errors import ConfigError
from core.graph.auth import GraphTokenSource
from core.graph.client import GraphClient
from core.http import Transport, new_session
from core.pbx.auth import PbxTokenSource
from core.pbx.client import PbxClient


def graph_client(settings: Settings, *, tenant_id: str | None = None, client_id: str | None = None,
                 client_secret: str | None = None) -> GraphClient:
    """A GraphClient for the given credentials, or those of the environment."""
    tenant_id = tenant_id or settings.entra_tenant_id
    client_id = client_id or settings.entra_client_id
    client_secret = client_secret or settings.entra_client_secret
    if not (tenant_id and client_id and client_secret):
        raise ConfigError(["Entra ID credentials are not set (tenant ID, client ID, secret)"])
    session = new_session(settings.entra_ca_bundle)
    tokens = GraphTokenSource(tenant_id=tenant_id, client_id=client_id,
                              client_secret=client_secret,
                              authority_host=settings.entra_authority_host, session=session)
    return GraphClient(base_url=settings.graph_base_url, transport=Transport(session),
                       token_source=tokens)


def pbx_client(settings: Settings) -> PbxClient:
    """A PbxClient holding one token for this process."""
    if not (settings.pbx_base_url and settings.pbx_client_id and settings.pbx_client_secret):
        raise ConfigError(["PBX_BASE_URL, PBX_CLIENT_ID and PBX_CLIENT_SECRET are required"])
    transport = Transport(new_session(settings.pbx_ca_bundle))
    tokens = PbxTokenSource(base_url=settings.pbx_base_url, client_id=settings.pbx_client_id,
                            client_secret=settings.pbx_client_secret, transport=transport)
    return PbxClient(base_url=settings.pbx_base_url, transport=transport, token_source=tokens)


def sandbox_environment(values: dict[str, str]) -> dict[str, str]:
    """Environment variables for the connection values `python -m sandbox` prints."""
    return {
        "ENTRA_AUTHORITY_HOST": values["authority_host"],
        "GRAPH_BASE_URL": values["graph_base_url"],
        "ENTRA_CA_BUNDLE": values["ca_bundle"],
        "ENTRA_TENANT_ID": values["tenant_id"],
        "ENTRA_CLIENT_ID": values["client_id"],
        "ENTRA_CLIENT_SECRET": values["client_secret"],
        "PBX_BASE_URL": values["pbx_base_url"],
        "PBX_CLIENT_ID": values["pbx_client_id"],
        "PBX_CLIENT_SECRET": values["pbx_client_secret"],
    }
