"""Sign-in on the Graph simulator: the authorization-code flow as MSAL drives it."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from typing import Any

import jwt
import msal
import pytest
import requests

from core.http import new_session
from core.presence.subscription import certificate
from core.secret_box import SecretBox
from core.store.stub import stub_store
from sandbox.runner import Sandbox
from sandbox.seed import seed_tenant

REDIRECT = "http://127.0.0.1:9/sso/callback"


@pytest.fixture
def tenant(sandbox: Sandbox) -> Sandbox:
    seed_tenant(sandbox.graph_store, 10)
    sandbox.graph_store.app.redirect_uris = {REDIRECT}
    return sandbox


def application(sandbox: Sandbox) -> tuple[msal.ConfidentialClientApplication, requests.Session]:
    values = sandbox.describe()
    session = new_session(values["ca_bundle"])
    return msal.ConfidentialClientApplication(
        values["client_id"], client_credential=values["client_secret"],
        authority=f"{values['authority_host']}/{values['tenant_id']}", http_client=session,
        instance_discovery=False), session


def posted_fields(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'name="(code|state)" value="([^"]*)"', page)}


def sign_in(sandbox: Sandbox, user: dict[str, Any]) -> dict[str, Any]:
    app, session = application(sandbox)
    flow = app.initiate_auth_code_flow(["Presence.Read.All"], redirect_uri=REDIRECT,
                                       response_mode="form_post")
    page = session.get(flow["auth_uri"], params={"login_hint": user["userPrincipalName"]}).text
    return dict(app.acquire_token_by_auth_code_flow(flow, posted_fields(page)))


def enabled_user(sandbox: Sandbox) -> dict[str, Any]:
    return next(u for u in sandbox.graph_store.users.items.values() if u["accountEnabled"])


def test_login_hint_signs_in_and_the_id_token_verifies_with_the_published_keys(
        tenant: Sandbox) -> None:
    user = enabled_user(tenant)
    result = sign_in(tenant, user)
    values = tenant.describe()
    jwks = new_session(values["ca_bundle"]).get(
        f"{values['authority_host']}/{values['tenant_id']}/discovery/v2.0/keys").json()

    claims = jwt.decode(result["id_token"], jwt.PyJWK(jwks["keys"][0]).key, algorithms=["RS256"],
                        audience=values["client_id"])

    assert claims["oid"] == user["id"] and claims["tid"] == values["tenant_id"]
    assert result["id_token_claims"]["preferred_username"] == user["userPrincipalName"]


def test_without_a_hint_a_form_asks_for_the_username(tenant: Sandbox) -> None:
    app, session = application(tenant)
    flow = app.initiate_auth_code_flow(["Presence.Read.All"], redirect_uri=REDIRECT,
                                       response_mode="form_post")

    form = session.get(flow["auth_uri"])
    user = enabled_user(tenant)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.text))
    page = session.post(form.url.split("?")[0], data={
        **{k: html.unescape(v) for k, v in fields.items()},
        "username": user["userPrincipalName"]})

    assert 'name="username"' in form.text
    assert "code" in posted_fields(page.text)


def test_unregistered_redirect_uri_and_disabled_user_are_refused(tenant: Sandbox) -> None:
    app, session = application(tenant)
    wrong = app.initiate_auth_code_flow(["Presence.Read.All"],
                                        redirect_uri="http://127.0.0.1:9/elsewhere",
                                        response_mode="form_post")
    disabled = next(u for u in tenant.graph_store.users.items.values()
                    if not u["accountEnabled"])
    flow = app.initiate_auth_code_flow(["Presence.Read.All"], redirect_uri=REDIRECT,
                                       response_mode="form_post")

    unregistered = session.get(wrong["auth_uri"])
    refused = session.get(flow["auth_uri"], params={"login_hint": disabled["userPrincipalName"]})

    assert unregistered.status_code == 400 and "AADSTS50011" in unregistered.text
    assert refused.status_code == 400 and "AADSTS50057" in refused.text


def test_a_code_redeemed_without_its_pkce_verifier_is_refused(tenant: Sandbox) -> None:
    app, session = application(tenant)
    flow = app.initiate_auth_code_flow(["Presence.Read.All"], redirect_uri=REDIRECT,
                                       response_mode="form_post")
    page = session.get(flow["auth_uri"],
                       params={"login_hint": enabled_user(tenant)["userPrincipalName"]}).text
    values = tenant.describe()

    answer = session.post(f"{values['authority_host']}/{values['tenant_id']}/oauth2/v2.0/token",
                          data={"grant_type": "authorization_code", "client_id": values["client_id"],
                                "client_secret": values["client_secret"], "redirect_uri": REDIRECT,
                                "code": posted_fields(page)["code"], "code_verifier": "wrong"})

    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_presence_subscriptions_take_a_delegated_token_one_per_account(tenant: Sandbox) -> None:
    user = enabled_user(tenant)
    token = sign_in(tenant, user)["access_token"]
    values = tenant.describe()
    expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 50 * 60))
    session = new_session(values["ca_bundle"])
    from tests.test_sandbox_fidelity import Receiver

    receiver = Receiver()
    base = f"{values['graph_base_url']}/subscriptions"
    as_user = {"Authorization": f"Bearer {token}"}
    app_token = application(tenant)[0].acquire_token_for_client(
        ["https://graph.microsoft.com/.default"])["access_token"]
    as_app = {"Authorization": f"Bearer {app_token}"}
    bare = {"changeType": "updated", "notificationUrl": receiver.url,
            "resource": f"communications/presences/{user['id']}", "expirationDateTime": expiry,
            "clientState": "presence-state"}
    pem, cert_id = certificate(stub_store(), SecretBox("sandbox-signin-key-Ur3Dk7Pf1Lw9Zx5Cq2Hv8Bn"),
                               dt.datetime.now(dt.UTC))
    body = bare | {"encryptionCertificate": pem, "encryptionCertificateId": cert_id}
    try:
        uncertified = session.post(base, headers=as_user, json=bare)
        answer = session.post(base, headers=as_user, json=body)
        other = next(u for u in tenant.graph_store.users.items.values()
                     if u["accountEnabled"] and u["id"] != user["id"])
        second = session.post(base, headers=as_user,
                              json=body | {"resource": f"communications/presences/{other['id']}"})
        by_app = session.post(base, headers=as_app,
                              json=body | {"resource": f"communications/presences/{other['id']}"})
        sub_id = answer.json()["id"]
        renew_by_app = session.patch(f"{base}/{sub_id}", headers=as_app,
                                     json={"expirationDateTime": expiry})
        delete_by_app = session.delete(f"{base}/{sub_id}", headers=as_app)
        renew_by_user = session.patch(f"{base}/{sub_id}", headers=as_user,
                                      json={"expirationDateTime": expiry})
        delete_by_user = session.delete(f"{base}/{sub_id}", headers=as_user)
    finally:
        receiver.server.stop()

    assert uncertified.status_code == 400 and "encryptionCertificate" in uncertified.text
    assert answer.status_code == 201, answer.text
    assert answer.json()["encryptionCertificateId"] == cert_id
    assert second.status_code == 409  # one presence subscription per account and app
    assert [r.status_code for r in (by_app, renew_by_app, delete_by_app)] == [403, 403, 403]
    assert "Application permissions are not supported" in renew_by_app.text
    assert (renew_by_user.status_code, delete_by_user.status_code) == (200, 204)
