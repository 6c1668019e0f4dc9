"""What callers see when API Gateway answers by itself: the same locally as on AWS, and no echo.

Locally `make run` serves the API with devtools/local_api.py (Chalice's local server,
answering API Gateway's own errors from the table the template's gateway responses
are made of). Here it runs as `make run` starts it, over HTTP, and each answer is
compared with what the deployed API's gateway response of that kind answers (as
deploy/template.py writes it into the template). No answer may carry the caller's
credential, in its body or in any header: AWS's own 403 for an unknown route quotes
the whole Authorization header.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from chalicelib.domain.access import Role
from chalicelib.services.tokens import issue_token
from deploy.template import gateway_responses
from devtools.processes import ROOT, free_port, wait_for_port
from devtools.run import chalice_command
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.e2e

VALID = issue_token(TEST_SECRET, "user-1", "acct_gw", Role.VIEWER, timedelta(hours=1))
MALFORMED = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LWxvb2tpbmctcGF5bG9hZA.not-a-real-signature-4f9a2c"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("gateway") / "local_api.log").open("wb")
    env = {**os.environ, "BILLING_JWT_SECRET": TEST_SECRET, "BILLING_STAGE": "local"}
    # The very command `make run` starts the API with.
    process = subprocess.Popen(chalice_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, "devtools.local_api", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def aws_answer(kind: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and headers of the deployed API's gateway response of this kind."""
    response = gateway_responses()[kind]
    headers = {k: v.strip("'") for k, v in response["ResponseParameters"]["Headers"].items()}
    return int(response["StatusCode"]), json.loads(response["ResponseTemplates"]["application/json"]), headers


def assert_same_as_aws(response: requests.Response, kind: str) -> None:
    status, body, headers = aws_answer(kind)
    assert response.status_code == status, (kind, response.text)
    assert response.json() == body, kind
    for name, value in headers.items():
        assert response.headers.get(name) == value, (kind, name)


def assert_no_echo(response: requests.Response, *secrets: str) -> None:
    seen = response.text + json.dumps(dict(response.headers))
    for secret in secrets:
        for part in {secret, *(p for p in secret.split(".") if len(p) >= 8)}:
            assert part not in seen, f"the answer quotes the credential ({part[:12]}...)"


@pytest.mark.parametrize("token", [VALID, MALFORMED], ids=["valid token", "malformed token"])
def test_an_unknown_route_with_a_token_is_a_404_that_quotes_nothing(api: str, token: str) -> None:
    # API Gateway reads the header as a SigV4 signature there: an INCOMPLETE_SIGNATURE response.
    response = requests.get(f"{api}/no/such/route", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert_same_as_aws(response, "INCOMPLETE_SIGNATURE")
    assert response.json()["error"]["code"] == "not_found"
    assert_no_echo(response, token)


def test_an_unknown_route_without_a_token_is_a_404(api: str) -> None:
    response = requests.get(f"{api}/no/such/route", timeout=10)
    assert_same_as_aws(response, "MISSING_AUTHENTICATION_TOKEN")


def test_a_method_a_route_lacks_is_a_404_as_on_aws(api: str) -> None:
    response = requests.delete(f"{api}/accounts/acct_gw", headers={"Authorization": f"Bearer {VALID}"}, timeout=10)
    assert_same_as_aws(response, "INCOMPLETE_SIGNATURE")
    assert_no_echo(response, VALID)


def test_a_missing_token_is_a_401_in_the_contract_shape(api: str) -> None:
    response = requests.get(f"{api}/accounts/acct_gw/balance", timeout=10)
    assert_same_as_aws(response, "UNAUTHORIZED")
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [f"Bearer {MALFORMED}", "Bearer ", f"Basic {MALFORMED}", f"Bearer {VALID[:-6]}tamper"],
    ids=["malformed", "empty", "not bearer", "bad signature"],
)
def test_a_malformed_token_is_a_401_in_the_contract_shape_that_quotes_nothing(api: str, header: str) -> None:
    # The authorizer runs (API Gateway passes any header it finds): the app's own 401.
    response = requests.get(f"{api}/accounts/acct_gw/balance", headers={"Authorization": header}, timeout=10)
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"} and error["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    credential = header.split(" ", 1)[1]
    if credential:
        assert_no_echo(response, credential)
