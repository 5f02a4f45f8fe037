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
