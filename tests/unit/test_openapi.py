"""The OpenAPI document: valid 3.1, complete, and built from the app's own routes."""

import json

from openapi_spec_validator import validate

import app as app_module
from chalicelib.api.openapi import OPERATIONS, build_document


def test_the_document_is_valid_openapi_3_1():
    document = build_document(app_module.app)
    assert document["openapi"].startswith("3.1")
    validate(document)
    json.dumps(document)  # it is what GET /openapi.json answers


def test_every_route_is_documented_and_only_unauthenticated_routes_are_public():
    document = build_document(app_module.app)
    routes = {(path, method.lower()) for path, methods in app_module.app.routes.items() for method in methods}
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == routes
    public = {(p, m) for p, ops in document["paths"].items() for m, op in ops.items() if op["security"] == []}
    unauthenticated = {
        (path, method.lower())
        for path, methods in app_module.app.routes.items()
        for method, route in methods.items()
        if route.authorizer is None
    }
    assert public == unauthenticated
    assert ("/openapi.json", "get") in public
    assert ("/accounts/{account_id}/payments", "post") not in public


def test_every_described_operation_is_a_real_route():
    views = {route.view_name for methods in app_module.app.routes.values() for route in methods.values()}
    assert set(OPERATIONS) <= views, set(OPERATIONS) - views


def test_request_bodies_come_from_the_pydantic_models():
    schemas = build_document(app_module.app)["components"]["schemas"]
    assert schemas["AccountIn"]["additionalProperties"] is False
    assert "name" in schemas["AccountIn"]["required"]
    assert "event_id" in schemas["UsageEventIn"]["required"]
    assert set(schemas["BillingSettingsIn"]["properties"]) >= {"threshold", "amount", "primary_card"}


def test_costly_actions_document_their_429_with_retry_after():
    operation = build_document(app_module.app)["paths"]["/accounts/{account_id}/payments"]["post"]
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"])


def test_every_authenticated_route_documents_its_503_with_retry_after():
    document = build_document(app_module.app)
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if operation["security"] == [] or "default" in operation["responses"]:  # public, or any answer
                continue
            response = operation["responses"].get("503")
            assert response is not None, (method, path)
            assert response["headers"]["Retry-After"]["required"] is True, (method, path)


def test_logs_and_rates_document_search_details_and_sources():
    document = build_document(app_module.app)
    schemas = document["components"]["schemas"]
    for path in ("/accounts/{account_id}/logs", "/agencies/{agency_id}/logs"):
        params = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        assert params["q"]["schema"]["maxLength"] == 100 and "metadata" in params["q"]["description"]
    entry = schemas["LogEntry"]
    assert {"metadata", "occurred_at_local", "posted_at_local", "time_zone"} <= set(entry["required"])
    assert "billing_account_name" in entry["properties"]
    assert {"type": "null"} in entry["properties"]["balance_after"]["anyOf"]
    rates = schemas["Rates"]["properties"]
    assert rates["rates"]["items"]["properties"]["source"]["enum"] == ["account", "agency", "default"]
    assert "currency" in schemas["RatesIn"]["properties"]
