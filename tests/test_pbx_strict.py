"""The PBX simulator is exactly as strict as Yeastar's documents, over real HTTP.

Each test names the documented rule it holds the simulator to; the page is cited where the
rule is implemented in `sandbox/pbx/`.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from core.errors import PbxError
from core.pbx.client import PbxClient
from sandbox.runner import Sandbox
from tests.conftest import Control
from tests.test_pbx_client import extension_fields


def token(sandbox: Sandbox) -> str:
    store = sandbox.pbx_store
    answer = call(sandbox, "POST", "get_token", {"username": store.client_id,
                                                 "password": store.client_secret})
    return str(answer["access_token"])


def call(sandbox: Sandbox, method: str, endpoint: str, body: dict[str, Any] | None = None,
         **params: Any) -> dict[str, Any]:
    response = requests.request(method, f"{sandbox.pbx.url}/openapi/v1.0/{endpoint}",
                                json=body, params=params, headers={"User-Agent": "OpenAPI"},
                                timeout=10)
    assert response.status_code == 200
    return dict(response.json())


# Edit an Extension --------------------------------------------------------------------------
def test_edit_an_extension_refuses_a_number_and_keeps_the_old_one(sandbox: Sandbox,
                                                                 pbx: PbxClient) -> None:
    ext_id = pbx.create_extension(extension_fields("1001"))

    answer = call(sandbox, "POST", "extension/update", {"id": ext_id, "number": "2001"},
                  access_token=token(sandbox))

    assert answer["errcode"] == 40002 and answer["errmsg"] == "PARAMETER ERROR"
    assert answer["invalid_param_list"][0]["field"] == "number"
    assert pbx.get_extension(ext_id).number == "1001"


def test_the_client_sees_a_number_edit_refused(pbx: PbxClient) -> None:
    ext_id = pbx.create_extension(extension_fields("1001"))

    with pytest.raises(PbxError) as caught:
        pbx.update_extension(ext_id, {"number": "2001", "title": "Lead"})

    assert caught.value.errcode == 40002
    assert pbx.get_extension(ext_id).title == ""  # nothing of a refused edit is applied


# Mobile number charset ------------------------------------------------------------------------
@pytest.mark.parametrize("mobile", ["+1 425 555 0100", "+44\t20", "0049/89", "tel:+1,2",
                                    "+14255550100\n"])
def test_a_mobile_number_outside_the_documented_charset_is_refused(sandbox: Sandbox,
                                                                  pbx: PbxClient,
                                                                  mobile: str) -> None:
    ext_id = pbx.create_extension(extension_fields("1001"))
    access = token(sandbox)

    created = call(sandbox, "POST", "extension/create", {"type": "SIP", **extension_fields(
        "1002"), "mobile_number": mobile}, access_token=access)
    edited = call(sandbox, "POST", "extension/update", {"id": ext_id, "mobile_number": mobile},
                  access_token=access)

    for answer in (created, edited):
        assert answer["errcode"] == 40002
        assert answer["invalid_param_list"] == [{"field": "mobile_number", "value": mobile}]
    assert [e.number for e in pbx.extensions()] == ["1001"]


def test_a_mobile_number_in_the_documented_charset_is_kept(pbx: PbxClient) -> None:
    ext_id = pbx.create_extension(extension_fields("1001"))
    mobile = "+1(425)555-0100*9#ext.7"

    pbx.update_extension(ext_id, {"mobile_number": mobile})

    assert pbx.get_extension(ext_id).mobile_number == mobile


# Organization Management ----------------------------------------------------------------------
def organizations_on(pbx_control: Control, *paths: str) -> dict[str, Any]:
    body: dict[str, Any] = {"organization_management": True}
    if paths:
        body["organizations"] = list(paths)
    return dict(pbx_control.post("config", body))


def test_with_organization_management_on_a_create_needs_an_organization(
        sandbox: Sandbox, pbx_control: Control) -> None:
    organizations_on(pbx_control, "Contoso", "Contoso/Sales")
    access = token(sandbox)
    listed = call(sandbox, "GET", "organization/list", access_token=access)["organization_list"]
    sales = listed[0]["children"][0]["id"]

    bare = call(sandbox, "POST", "extension/create", {"type": "SIP", **extension_fields("1001")},
                access_token=access)
    unknown = call(sandbox, "POST", "extension/create", {
        "type": "SIP", **extension_fields("1001"), "organization_list": [{"value": "999"}]},
        access_token=access)
    placed = call(sandbox, "POST", "extension/create", {
        "type": "SIP", **extension_fields("1001"), "organization_list": [{"value": str(sales)}]},
        access_token=access)

    assert bare["errcode"] == 40002 and bare["invalid_param_list"] == [
        {"field": "organization_list", "validation_type": "required"}]
    assert unknown["errcode"] == 40002
    assert unknown["invalid_param_list"][0]["field"] == "organization_list"
    assert placed["errcode"] == 0


def test_organizations_are_listed_as_a_tree_with_their_extensions(
        sandbox: Sandbox, pbx_control: Control) -> None:
    organizations_on(pbx_control, "Contoso", "Contoso/Sales", "Contoso/Sales/EMEA")
    access = token(sandbox)
    emea = 3
    call(sandbox, "POST", "extension/create", {"type": "SIP", **extension_fields("1001"),
                                               "organization_list": [{"value": str(emea)}]},
         access_token=access)

    listed = call(sandbox, "GET", "organization/list", access_token=access, is_all=1)

    (root,) = listed["organization_list"]
    (sales,) = root["children"]
    (leaf,) = sales["children"]
    assert (root["name"], sales["name"], leaf["name"]) == ("Contoso", "Sales", "EMEA")
    assert (root["parent_id"], sales["parent_id"], leaf["parent_id"]) == (0, "1", "2")
    assert leaf["ext_list"] == [1] and leaf["ext_number"] == "1"


def test_organization_list_answers_70120_while_the_feature_is_off(sandbox: Sandbox) -> None:
    answer = call(sandbox, "GET", "organization/list", access_token=token(sandbox))

    assert (answer["errcode"], answer["errmsg"]) == (70120, "ORGANIZATION DISABLED")


def test_turning_organization_management_on_makes_a_root_organization(
        sandbox: Sandbox, pbx_control: Control) -> None:
    organizations_on(pbx_control)

    listed = call(sandbox, "GET", "organization/list", access_token=token(sandbox))

    assert [o["name"] for o in listed["organization_list"]] == ["Company"]


# Phonebooks and their company contacts ------------------------------------------------------
def contact_in(sandbox: Sandbox, access: str, book: int) -> int:
    answer = call(sandbox, "POST", "company_contact/create", {
        "first_name": "Lee", "phonebook_id_list": [book],
        "number_list": [{"num_type": "mobile_number", "number": "5550100"}]},
        access_token=access)
    return int(answer["id"])


def test_a_contact_in_a_phonebook_is_deleted_only_once_removed_from_it(
        sandbox: Sandbox) -> None:
    access = token(sandbox)
    book = call(sandbox, "POST", "phonebook/create", {"name": "Desk",
                                                      "member_select": "sel_specific"},
                access_token=access)["id"]
    contact = contact_in(sandbox, access, book)

    refused = call(sandbox, "GET", "company_contact/delete", access_token=access, id=contact)
    removed = call(sandbox, "POST", "phonebook/update", {"id": book,
                                                         "del_contacts_id_list": [contact]},
                   access_token=access)
    deleted = call(sandbox, "GET", "company_contact/delete", access_token=access, id=contact)

    assert (refused["errcode"], refused["errmsg"]) == (70091, "CONNECTION_RELATION_EXISTED")
    assert removed["errcode"] == 0 and deleted["errcode"] == 0


def test_an_empty_phonebook_id_list_on_a_contact_edit_removes_it_from_nothing(
        sandbox: Sandbox) -> None:
    access = token(sandbox)
    book = call(sandbox, "POST", "phonebook/create", {"name": "Desk"},
                access_token=access)["id"]
    other = call(sandbox, "POST", "phonebook/create", {"name": "Lobby"},
                 access_token=access)["id"]
    contact = contact_in(sandbox, access, book)

    call(sandbox, "POST", "company_contact/update", {"id": contact, "phonebook_id_list": []},
         access_token=access)
    call(sandbox, "POST", "company_contact/update", {"id": contact,
                                                    "phonebook_id_list": [other]},
         access_token=access)
    listed = call(sandbox, "GET", "company_contact/get", access_token=access, id=contact)

    assert {p["name"] for p in listed["data"]["phonebook_list"]} >= {"Desk", "Lobby"}
    assert call(sandbox, "GET", "company_contact/delete", access_token=access,
                id=contact)["errcode"] == 70091


@pytest.mark.parametrize("ids", [["x"], "3", [None]])
def test_del_contacts_id_list_takes_contact_ids_only(sandbox: Sandbox, ids: Any) -> None:
    access = token(sandbox)
    book = call(sandbox, "POST", "phonebook/create", {"name": "Desk"},
                access_token=access)["id"]

    answer = call(sandbox, "POST", "phonebook/update", {"id": book, "del_contacts_id_list": ids},
                  access_token=access)

    assert answer["errcode"] == 40002
    assert answer["invalid_param_list"][0]["field"] == "del_contacts_id_list"
