"""Logs carry the request's keys only while it runs; metrics are EMF documents on stdout."""

import json
from types import SimpleNamespace

from chalicelib.observability import NAMESPACE, get_logger, log_context, record_count


def test_record_count_writes_one_emf_document(capsys):
    record_count("Recharges", 2, outcome="succeeded")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    document = json.loads(line)
    assert document["Recharges"] == [2] or document["Recharges"] == 2
    assert document["outcome"] == "succeeded"
    metrics = document["_aws"]["CloudWatchMetrics"][0]
    assert metrics["Namespace"] == NAMESPACE
    assert ["service", "outcome"] in metrics["Dimensions"] or ["outcome", "service"] in metrics["Dimensions"]


def test_log_context_adds_request_keys_for_the_request_only():
    request = SimpleNamespace(
        method="GET",
        path="/accounts/{account_id}/balance",
        uri_params={"account_id": "acct_1"},
        context={"requestId": "req-1", "authorizer": {"principalId": "u1", "role": "viewer", "account_id": "acct_1"}},
        lambda_context=SimpleNamespace(aws_request_id="lambda-1"),
    )
    seen = {}

    def view(event):
        seen.update(get_logger().get_current_keys())
        return SimpleNamespace(status_code=200)

    assert log_context(request, view).status_code == 200
    assert seen["request_id"] == "req-1"
    assert seen["account_id"] == "acct_1"
    assert seen["function_request_id"] == "lambda-1"
    assert seen["principal"] == "u1"
    assert "request_id" not in get_logger().get_current_keys()
