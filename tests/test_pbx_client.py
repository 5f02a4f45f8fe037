"""PbxClient against the PBX simulator over real HTTP."""

from __future__ import annotations

import pytest

from core.errors import AuthError, PbxDuplicateError, PbxLimitError, PbxNotFoundError
from core.http import Transport, new_session
from core.pbx.auth import PbxTokenSource
from core.pbx.client import PbxClient
from sandbox.runner import Sandbox
from tests.conftest import Control


def extension_fields(number: str, email: str = "") -> dict[str, object]:
    return {"number": number, "first_name": "Ada", "last_name": f"Num{number}",
            "email_addr": email, "user_password": "Secret12345x", "reg_name": number,
            "reg_password": "regpass-12345", "concurrent_registrations": 1,
            "presence_status": "available"}


def fill(sandbox: Sandbox, count: int) -> None:
    store = sandbox.pbx_store
    with store.lock:
        for n in range(count):
            ext_id = store.next_id("extension")
            store.extensions[ext_id] = {"id": ext_id, "number": str(10000 + n), "first_name": "F",
                                        "last_name": str(n), "email_addr": "", "mobile_number": "",
                                        "title": "", "presence_status": "available"}


def test_created_extension_is_found_by_number_and_round_trips(pbx: PbxClient) -> None:
    ext_id = pbx.create_extension(extension_fields("1001", "ada@contoso.com"))

    created = pbx.get_extension(ext_id)
    pbx.update_extension(ext_id, {"title": "Engineer", "mobile_number": "+1(206)555-0100"})
    updated = pbx.get_extension(ext_id)

    assert (created.number, created.email_addr, created.first_name) == (
        "1001", "ada@contoso.com", "Ada")
    assert (updated.title, updated.mobile_number) == ("Engineer", "+1(206)555-0100")
    pbx.delete_extension(ext_id)
    with pytest.raises(PbxNotFoundError):
        pbx.get_extension(ext_id)


def test_duplicate_email_names_the_extension_that_has_it(pbx: PbxClient) -> None:
    pbx.create_extension(extension_fields("1001", "ada@contoso.com"))

    with pytest.raises(PbxDuplicateError) as caught:
        pbx.create_extension(extension_fields("1002", "ADA@contoso.com"))

    assert caught.value.fields[0]["field"] == "email_addr"
    assert caught.value.fields[0]["external_source_name"] == "1001"


def test_capacity_is_reported_as_a_limit(sandbox: Sandbox, pbx: PbxClient,
                                         pbx_control: Control) -> None:
    pbx_control.post("config", {"capacity": 1})
    pbx.create_extension(extension_fields("1001"))

    with pytest.raises(PbxLimitError):
        pbx.create_extension(extension_fields("1002"))


def test_token_expiry_mid_listing_is_survived_with_one_token(sandbox: Sandbox, pbx: PbxClient,
                                                             pbx_control: Control) -> None:
    fill(sandbox, 3000)
    pbx.page_size = 500
    numbers = []
    for index, extension in enumerate(pbx.extensions()):
        numbers.append(extension.number)
        if index == 700:
            pbx_control.advance(1801)  # the access token dies between two pages

    assert len(numbers) == 3000 == len(set(numbers))
    assert pbx_control.get("state")["live_tokens"] == 1
    assert pbx.token_source.logins == 1  # the refresh token did the work


def test_long_run_never_reaches_the_eight_token_cap(sandbox: Sandbox, pbx: PbxClient,
                                                    pbx_control: Control) -> None:
    for hour in range(12):
        pbx.create_extension(extension_fields(str(2000 + hour)))
        pbx_control.advance(1801)

    assert len(list(pbx.extensions())) == 12
    assert pbx_control.get("state")["live_tokens"] <= 1


def test_closing_revokes_the_token(sandbox: Sandbox, pbx: PbxClient,
                                   pbx_control: Control) -> None:
    list(pbx.extensions())
    pbx.token_source.close()

    assert pbx_control.get("state")["live_tokens"] == 0


def test_busy_pbx_is_retried_with_backoff(pbx: PbxClient, pbx_control: Control) -> None:
    pbx.transport.sleep = lambda _s: None
    pbx_control.fault(path="/openapi/v1.0/extension/list", status=200, errcode=70082, count=2)

    assert list(pbx.extensions()) == []
    assert pbx_control.counts()["GET /openapi/v1.0/extension/list"] == 3


def test_http_503_is_retried(pbx: PbxClient, pbx_control: Control) -> None:
    pbx_control.fault(path="/openapi/v1.0/extension/list", status=503, retry_after=0.05, count=2)

    assert list(pbx.extensions()) == []
    assert pbx_control.counts()["GET /openapi/v1.0/extension/list"] == 3


def test_wrong_secret_is_an_auth_error_and_five_block_the_ip(sandbox: Sandbox) -> None:
    def source() -> PbxTokenSource:  # a process of its own
        return PbxTokenSource(base_url=sandbox.pbx.url, client_id=sandbox.pbx_store.client_id,
                              client_secret="wrong-secret", transport=Transport(new_session()))

    reasons = []
    for _ in range(6):
        with pytest.raises(AuthError) as caught:
            source().token()
        reasons.append(caught.value.reason)
        assert "wrong-secret" not in str(caught.value)

    assert reasons == ["bad_secret"] * 5 + ["ip_blocked"]


def test_a_refused_login_is_not_tried_again_by_the_same_process(
        sandbox: Sandbox, pbx_control: Control) -> None:
    tokens = PbxTokenSource(base_url=sandbox.pbx.url, client_id=sandbox.pbx_store.client_id,
                            client_secret="wrong-secret", transport=Transport(new_session()))

    reasons = []
    for _ in range(6):  # six runs or health checks of one worker
        with pytest.raises(AuthError) as caught:
            tokens.token()
        reasons.append(caught.value.reason)

    assert reasons == ["bad_secret"] * 6  # the PBX blocks an address after 5 bad logins
    assert pbx_control.counts()["POST /openapi/v1.0/get_token"] == 1


def test_extension_groups_hold_members_by_extension_id(pbx: PbxClient) -> None:
    first = pbx.create_extension(extension_fields("1001"))
    second = pbx.create_extension(extension_fields("1002"))

    group_id = pbx.create_extension_group("Sales", [first])
    pbx.update_extension_group(group_id, member_ids=[first, second])
    groups = {g.name: g for g in pbx.extension_groups()}

    assert set(groups) == {"Default_All_Extensions", "Sales"}
    assert groups["Sales"].member_ids == (first, second)
    pbx.delete_extension(first)
    assert {g.name: g for g in pbx.extension_groups()}["Sales"].member_ids == (second,)


def test_company_contacts_and_phonebooks(pbx: PbxClient) -> None:
    book = pbx.create_phonebook("Sales Desk")
    contact = pbx.create_company_contact({
        "first_name": "Lee", "last_name": "Chen", "phonebook_id_list": [book],
        "number_list": [{"num_type": "mobile_number", "number": "+44 20 7946 0000"}]})

    rows = list(pbx.company_contacts())
    assert [(r["contact_name"], r["mobile"]) for r in rows] == [("Lee Chen", "+44 20 7946 0000")]
    pbx.update_phonebook(book, remove=[contact])
    pbx.delete_company_contact(contact)
    pbx.delete_phonebook(book)
    assert list(pbx.company_contacts()) == []


def test_organizations_are_read_with_their_paths(pbx: PbxClient, pbx_control: Control) -> None:
    pbx_control.post("config", {"organization_management": True,
                                "organizations": ["Contoso", "Contoso/Sales",
                                                  "Contoso/Sales/EMEA"]})

    found = pbx.organizations()

    assert [(o.id, o.name, o.path) for o in found] == [
        (1, "Contoso", "Contoso"), (2, "Sales", "Contoso/Sales"),
        (3, "EMEA", "Contoso/Sales/EMEA")]
