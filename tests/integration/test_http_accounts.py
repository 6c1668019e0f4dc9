"""HTTP: PUT/GET /accounts/{id}, GET /accounts/{id}/balance, GET/PUT /accounts/{id}/rates."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from tests.integration.http_helpers import (
    admin,
    agency_with_subs,
    assert_error,
    charge,
    credit,
    make_client,
    new_id,
    ok_json,
    provision,
    send,
    service,
    usage_event,
    viewer,
)

DEFAULT_RATES = [
    {"category": "call_minutes", "unit": "minute", "unit_price": "0.0125", "source": "default"},
    {"category": "number_renewals", "unit": "number", "unit_price": "1.00", "source": "default"},
    {"category": "subscription_fees", "unit": "subscription", "unit_price": "30.00", "source": "default"},
    {"category": "text_messages", "unit": "message", "unit_price": "0.0079", "source": "default"},
]


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


def put_account(client: Client, account_id: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return send(client, "PUT", f"/accounts/{account_id}", service() if headers is None else headers, body)


# -- PUT /accounts/{id} ----------------------------------------------------------------
def test_put_creates_then_updates_the_account(client: Client) -> None:
    account_id = new_id()
    body = {"name": "Acme Plumbing", "time_zone": "America/New_York", "currency": "USD", "emails": ["ap@acme.example"]}
    created = ok_json(put_account(client, account_id, body), 201)
    assert created == {
        "account_id": account_id,
        "name": "Acme Plumbing",
        "kind": "account",
        "time_zone": "America/New_York",
        "currency": "USD",
        "agency_id": None,
        "billing": "own",
        "billing_account_id": account_id,
        "emails": ["ap@acme.example"],
        "created_at": created["created_at"],
        "updated_at": created["created_at"],
    }
    assert created["created_at"].endswith("Z")

    updated = ok_json(put_account(client, account_id, {**body, "name": "Acme Plumbing & Heating", "emails": []}), 200)
    assert updated["name"] == "Acme Plumbing & Heating"
    assert updated["emails"] == []
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] > created["updated_at"]

    got = ok_json(send(client, "GET", f"/accounts/{account_id}", viewer(account_id)))
    assert {k: v for k, v in got.items() if k != "balance"} == updated
    assert got["balance"]["balance"] == "0.00"
    assert got["balance"]["currency"] == "USD"


def test_put_defaults(client: Client) -> None:
    account_id = new_id()
    created = ok_json(put_account(client, account_id, {"name": "Minimal"}), 201)
    assert {
        k: created[k] for k in ("kind", "time_zone", "currency", "agency_id", "billing", "billing_account_id", "emails")
    } == {
        "kind": "account",
        "time_zone": "UTC",
        "currency": "USD",
        "agency_id": None,
        "billing": "own",
        "billing_account_id": account_id,
        "emails": [],
    }


def test_sub_accounts_own_and_shared_billing(client: Client) -> None:
    agency, shared, own = agency_with_subs(client, time_zone="Europe/London")
    agency_view = ok_json(send(client, "GET", f"/accounts/{agency}", viewer(agency)))
    assert agency_view["kind"] == "agency"
    assert agency_view["billing_account_id"] == agency

    shared_view = ok_json(send(client, "GET", f"/accounts/{shared}", viewer(shared)))
    assert (shared_view["agency_id"], shared_view["billing"], shared_view["billing_account_id"]) == (
        agency,
        "agency",
        agency,
    )
    assert shared_view["balance"]["billing_account_id"] == agency

    own_view = ok_json(send(client, "GET", f"/accounts/{own}", viewer(own)))
    assert (own_view["agency_id"], own_view["billing"], own_view["billing_account_id"]) == (agency, "own", own)


def test_moving_a_sub_account_to_shared_billing_and_back(client: Client) -> None:
    agency, _, own = agency_with_subs(client)
    moved = ok_json(put_account(client, own, {"name": "Moved", "agency_id": agency, "billing": "agency"}))
    assert moved["billing_account_id"] == agency
    back = ok_json(put_account(client, own, {"name": "Moved", "agency_id": agency}))
    assert back["billing_account_id"] == own


@pytest.fixture(scope="module")
def agency_family(client: Client) -> tuple[str, str, str]:
    return agency_with_subs(client)


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("malformed json", b'{"name": ', "JSON"),
    ("empty body", b"", "JSON"),
    ("array", b"[]", "body"),
    ("string", b'"acme"', "body"),
    ("null", b"null", "body"),
    ("missing name", b'{"time_zone": "UTC"}', "name"),
    ("blank name", b'{"name": "   "}', "name"),
    ("name wrong type", b'{"name": 42}', "name"),
    ("unknown field", b'{"name": "a", "nmae": "b"}', "nmae"),
    ("unknown time zone", b'{"name": "a", "time_zone": "Mars/Olympus_Mons"}', "time_zone"),
    ("host-dependent zone", b'{"name": "a", "time_zone": "localtime"}', "time_zone"),
    ("time zone wrong type", b'{"name": "a", "time_zone": 5}', "time_zone"),
    ("currency lower case", b'{"name": "a", "currency": "usd"}', "currency"),
    ("currency too long", b'{"name": "a", "currency": "USDX"}', "currency"),
    ("kind unknown", b'{"name": "a", "kind": "reseller"}', "kind"),
    ("billing unknown", b'{"name": "a", "billing": "card"}', "billing"),
    ("bad email", b'{"name": "a", "emails": ["not-an-email"]}', "emails"),
    ("emails not a list", b'{"name": "a", "emails": "a@b.example"}', "emails"),
    ("header injection email", b'{"name": "a", "emails": ["a@b.example\\nBcc: x@y.example"]}', "emails"),
    ("agency that does not exist", b'{"name": "a", "agency_id": "no-such-agency"}', "agency_id"),
    ("agency id malformed", b'{"name": "a", "agency_id": "bad id"}', "agency_id"),
    ("shared billing without agency", b'{"name": "a", "billing": "agency"}', "billing"),
]


@pytest.mark.parametrize(
    ("raw", "field"), [(raw, field) for _, raw, field in BAD_BODIES], ids=[i for i, _, _ in BAD_BODIES]
)
def test_put_account_bad_body_is_400_naming_the_field(client: Client, raw: bytes, field: str) -> None:
    account_id = new_id()
    error = assert_error(send(client, "PUT", f"/accounts/{account_id}", service(), raw=raw), 400, "bad_request")
    assert field in error["message"], error
    assert_error(send(client, "GET", f"/accounts/{account_id}", service()), 404, "not_found")


def test_agency_must_be_an_agency_that_is_not_a_sub_account(
    client: Client, agency_family: tuple[str, str, str]
) -> None:
    agency, shared, own = agency_family
    plain = provision(client)
    for not_an_agency in (shared, own, plain):
        error = assert_error(put_account(client, new_id(), {"name": "a", "agency_id": not_an_agency}), 400)
        assert error["message"].startswith("agency_id:"), error
    # An agency cannot belong to another agency, nor an account to itself.
    error = assert_error(put_account(client, new_id(), {"name": "a", "kind": "agency", "agency_id": agency}), 400)
    assert error["message"].startswith("agency_id:")
    error = assert_error(put_account(client, own, {"name": "a", "agency_id": own}), 400)
    assert error["message"].startswith("agency_id:")


def test_shared_billing_needs_the_agencys_currency(client: Client, agency_family: tuple[str, str, str]) -> None:
    agency, _, _ = agency_family
    body = {"name": "a", "agency_id": agency, "billing": "agency", "currency": "EUR"}
    error = assert_error(put_account(client, new_id(), body), 400)
    assert error["message"].startswith("currency:")


def test_currency_is_frozen_once_entries_exist(client: Client) -> None:
    account_id = provision(client, currency="USD")
    # No entries yet: the currency may still change.
    assert ok_json(put_account(client, account_id, {"name": "a", "currency": "EUR"}))["currency"] == "EUR"
    charge([credit(account_id, "10.00")])
    error = assert_error(put_account(client, account_id, {"name": "a", "currency": "USD"}), 400)
    assert error["message"].startswith("currency:")
    # Everything else may still change.
    assert ok_json(put_account(client, account_id, {"name": "Renamed", "currency": "EUR"}))["name"] == "Renamed"
    assert ok_json(send(client, "GET", f"/accounts/{account_id}", viewer(account_id)))["currency"] == "EUR"


def test_an_agencys_currency_is_frozen_once_its_balance_has_entries(client: Client) -> None:
    agency, shared, _ = agency_with_subs(client)
    # Only the shared sub-account has used the service: the entries are its own,
    # but the balance they moved (and its currency) is the agency's.
    charge([usage_event(shared, "call_minutes", "1")])
    error = assert_error(put_account(client, agency, {"name": "a", "kind": "agency", "currency": "EUR"}), 400)
    assert error["message"].startswith("currency:")
    assert ok_json(send(client, "GET", f"/accounts/{agency}/balance", viewer(agency)))["currency"] == "USD"


def test_an_agency_with_sub_accounts_stays_an_agency(client: Client, agency_family: tuple[str, str, str]) -> None:
    agency, _, _ = agency_family
    error = assert_error(put_account(client, agency, {"name": "a", "kind": "account"}), 400)
    assert error["message"].startswith("kind:")


@pytest.mark.parametrize("bad_id", ["bad%20id", "x" * 65, "-leading-dash", "%C3%A9t%C3%A9", "a%2Fb"])
@pytest.mark.parametrize("suffix", ["", "/balance", "/rates", "/logs"])
def test_malformed_account_id_in_path_is_400(client: Client, bad_id: str, suffix: str) -> None:
    assert_error(send(client, "GET", f"/accounts/{bad_id}{suffix}", service()), 400, "bad_request")


def test_put_malformed_account_id_is_400(client: Client) -> None:
    assert_error(put_account(client, "bad%20id", {"name": "a"}), 400, "bad_request")


def test_unknown_account_is_404(client: Client) -> None:
    missing = new_id("missing")
    for suffix in ("", "/balance", "/rates", "/logs"):
        assert_error(send(client, "GET", f"/accounts/{missing}{suffix}", service()), 404, "not_found")
    assert_error(send(client, "PUT", f"/accounts/{missing}/rates", service(), {"rates": {}}), 404, "not_found")


# -- GET /accounts/{id}/balance ----------------------------------------------------------
def balance(client: Client, account_id: str) -> dict[str, Any]:
    body: dict[str, Any] = ok_json(send(client, "GET", f"/accounts/{account_id}/balance", viewer(account_id)))
    return body


def test_balance_of_a_new_account(client: Client) -> None:
    account_id = provision(client, name="Fresh")
    state = balance(client, account_id)
    upcoming = state.pop("upcoming")
    assert (upcoming["total"], upcoming["count"], upcoming["by_category"]) == ("0.00", 0, [])
    assert state == {
        "account_id": account_id,
        "billing": "own",
        "billing_account_id": account_id,
        "billing_account_name": "Fresh",
        "balance_visible": True,
        "balance": "0.00",
        "currency": "USD",
        "status": "low",
        "low_balance_threshold": "15.00",
        "average_daily_spend": "0.00",
        "runway_days": None,
        "auto_recharge": {
            "enabled": False,
            "threshold": "15.00",
            "amount": "25.00",
            "in_flight": False,
            "paused": False,
            "consecutive_declines": 0,
        },
        "covered_until": None,
        "notices": [],
        "entries": 0,
        "last_posted_at": None,
    }


def test_balance_is_exact_and_says_its_status(client: Client) -> None:
    account_id = provision(client, currency="USD")
    charge([credit(account_id, "20.00"), usage_event(account_id, "call_minutes", "3")])
    state = balance(client, account_id)
    assert (state["balance"], state["status"], state["entries"]) == ("19.9625", "ok", 2)
    assert state["last_posted_at"] is not None

    charge([usage_event(account_id, "subscription_fees", "1", amount="5.00")])
    assert (balance(client, account_id)["balance"], balance(client, account_id)["status"]) == ("14.9625", "low")

    charge([usage_event(account_id, "text_messages", "7")])  # 7 x 0.0079 = 0.0553
    assert balance(client, account_id)["balance"] == "14.9072"

    charge([usage_event(account_id, "number_renewals", "15")])
    state = balance(client, account_id)
    assert (state["balance"], state["status"], state["entries"]) == ("-0.0928", "past_due", 5)


def test_shared_billing_shows_the_agencys_balance(client: Client) -> None:
    agency, shared, own = agency_with_subs(client)
    charge([credit(agency, "50.00"), usage_event(shared, "call_minutes", "4"), credit(own, "3.00")])
    # As the agency sees its shared sub-account: the agency's balance.
    shared_state = ok_json(send(client, "GET", f"/accounts/{shared}/balance", viewer(agency)))
    assert shared_state["billing"] == "agency"
    assert shared_state["billing_account_id"] == agency
    assert shared_state["billing_account_name"] == f"Account {agency}"
    assert shared_state["balance"] == "49.95"
    assert balance(client, agency)["balance"] == "49.95"
    own_state = balance(client, own)
    assert (own_state["billing_account_id"], own_state["balance"], own_state["status"]) == (own, "3.00", "low")
    # GET /accounts/{id} embeds the same balance.
    account = ok_json(send(client, "GET", f"/accounts/{shared}", viewer(agency)))
    assert account["balance"] == shared_state
    # The sub-account's own users are told who pays, not the agency's money (test_cross_tenant has the rest).
    own_view = balance(client, shared)
    assert (own_view["billing_account_name"], own_view["balance"], own_view["balance_visible"]) == (
        f"Account {agency}",
        None,
        False,
    )


# -- GET/PUT /accounts/{id}/rates --------------------------------------------------------
def test_rates_default_then_overridden_then_reset(client: Client) -> None:
    account_id = provision(client, currency="USD")
    assert ok_json(send(client, "GET", f"/accounts/{account_id}/rates", viewer(account_id))) == {
        "account_id": account_id,
        "currency": "USD",
        "rates": DEFAULT_RATES,
        "unpriced": [],
    }
    body = {"rates": {"call_minutes": {"unit_price": "0.02"}, "text_messages": {"unit_price": "0.005", "unit": "sms"}}}
    updated = ok_json(send(client, "PUT", f"/accounts/{account_id}/rates", service(), body))
    expected = [
        {"category": "call_minutes", "unit": "minute", "unit_price": "0.02", "source": "account"},
        DEFAULT_RATES[1],
        DEFAULT_RATES[2],
        {"category": "text_messages", "unit": "sms", "unit_price": "0.005", "source": "account"},
    ]
    assert updated["rates"] == expected
    assert ok_json(send(client, "GET", f"/accounts/{account_id}/rates", viewer(account_id)))["rates"] == expected

    # The writer prices with the override: 3 minutes x 0.02 = 0.06.
    charge([credit(account_id, "1.00"), usage_event(account_id, "call_minutes", "3")])
    assert balance(client, account_id)["balance"] == "0.94"

    # A PUT replaces the overrides: categories left out fall back to the defaults.
    reset = ok_json(send(client, "PUT", f"/accounts/{account_id}/rates", service(), {"rates": {}}))
    assert reset["rates"] == DEFAULT_RATES


def test_rates_json_numbers_are_read_exactly(client: Client) -> None:
    account_id = provision(client)
    # A JSON number is parsed as an exact decimal, never through a binary float.
    updated = send(
        client,
        "PUT",
        f"/accounts/{account_id}/rates",
        service(),
        raw=b'{"rates": {"call_minutes": {"unit_price": 0.0131}}}',
    )
    assert ok_json(updated)["rates"][0]["unit_price"] == "0.0131"
    # ... and one that would need rounding is refused rather than rounded.
    refused = send(
        client,
        "PUT",
        f"/accounts/{account_id}/rates",
        service(),
        raw=b'{"rates": {"call_minutes": {"unit_price": 0.30000000000000004}}}',
    )
    assert "6 decimal places" in assert_error(refused, 400)["message"]


def test_agency_admin_sets_rates_of_its_sub_account(client: Client) -> None:
    agency, shared, _ = agency_with_subs(client)
    body = {"rates": {"number_renewals": {"unit_price": "2.50"}}}
    updated = ok_json(send(client, "PUT", f"/accounts/{shared}/rates", admin(agency), body))
    assert updated["rates"][1] == {
        "category": "number_renewals",
        "unit": "number",
        "unit_price": "2.50",
        "source": "account",
    }
    # The sub-account's own admin may not, nor the agency's viewer.
    assert_error(send(client, "PUT", f"/accounts/{shared}/rates", admin(shared), body), 403, "forbidden")
    assert_error(send(client, "PUT", f"/accounts/{shared}/rates", viewer(agency), body), 403, "forbidden")


BAD_RATES: list[tuple[str, bytes, str]] = [
    ("malformed json", b'{"rates": {', "JSON"),
    ("empty body", b"", "JSON"),
    ("not an object", b"[]", "rates"),
    ("rates not an object", b'{"rates": []}', "rates"),
    ("extra top-level field", b'{"rates": {}, "x": 1}', "rates"),
    ("unknown category", b'{"rates": {"fax_pages": {"unit_price": "1"}}}', "fax_pages"),
    ("credit category", b'{"rates": {"recharge": {"unit_price": "1"}}}', "recharge"),
    ("spec not an object", b'{"rates": {"call_minutes": "0.02"}}', "call_minutes"),
    ("missing unit_price", b'{"rates": {"call_minutes": {"unit": "minute"}}}', "unit_price"),
    ("unknown spec field", b'{"rates": {"call_minutes": {"unit_price": "1", "per": "x"}}}', "per"),
    ("negative price", b'{"rates": {"call_minutes": {"unit_price": "-0.01"}}}', "unit_price"),
    ("too many decimals", b'{"rates": {"call_minutes": {"unit_price": "0.0000001"}}}', "unit_price"),
    ("exponent text", b'{"rates": {"call_minutes": {"unit_price": "1e-2"}}}', "unit_price"),
    ("NaN text", b'{"rates": {"call_minutes": {"unit_price": "NaN"}}}', "unit_price"),
    ("boolean price", b'{"rates": {"call_minutes": {"unit_price": true}}}', "unit_price"),
    ("huge price", b'{"rates": {"call_minutes": {"unit_price": 1e400}}}', "unit_price"),
    ("empty unit", b'{"rates": {"call_minutes": {"unit_price": "1", "unit": ""}}}', "unit"),
]


@pytest.mark.parametrize(("raw", "mentions"), [(r, m) for _, r, m in BAD_RATES], ids=[i for i, _, _ in BAD_RATES])
def test_put_rates_bad_body_is_400(client: Client, raw: bytes, mentions: str) -> None:
    account_id = provision(client)
    error = assert_error(send(client, "PUT", f"/accounts/{account_id}/rates", service(), raw=raw), 400, "bad_request")
    assert mentions in error["message"], error
    # Nothing changed.
    assert ok_json(send(client, "GET", f"/accounts/{account_id}/rates", viewer(account_id)))["rates"] == DEFAULT_RATES


# -- errors Chalice answers itself get the contract's shape too ---------------------------
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_415_with_the_error_shape(client: Client, content_type: str) -> None:
    account_id = provision(client)
    headers = {**service(), "Content-Type": content_type}
    response = send(client, "PUT", f"/accounts/{account_id}", headers, raw=b'{"name": "x"}')
    assert_error(response, 415, "unsupported_media_type")
    # Without a Content-Type the body is read as JSON.
    response = client.http.request("PUT", f"/accounts/{account_id}", headers=service(), body=b'{"name": "x"}')
    assert ok_json(response)["name"] == "x"


def test_an_unsupported_method_is_405_with_the_error_shape(client: Client) -> None:
    account_id = provision(client)
    assert_error(send(client, "DELETE", f"/accounts/{account_id}", service()), 405, "method_not_allowed")
    assert ok_json(send(client, "GET", f"/accounts/{account_id}", service()))["account_id"] == account_id
