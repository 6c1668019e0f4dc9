"""Rate cards per currency, and one pricing rule for the writer, POST /usage-events and GET rates.

Rates resolve account override -> agency override -> default, in the account's
currency; a currency without a card is refused (400 on HTTP, dead-lettered on the
queue), never priced from another currency's card; a balance never mixes currencies.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.accounts_repo import AccountRepository
from chalicelib.config import get_settings
from chalicelib.domain.accounts import Billing
from devtools.environment import apply_env, restore_env
from tests.integration.http_helpers import (
    admin,
    assert_error,
    charge,
    credit,
    drain_queue,
    make_client,
    new_id,
    ok_json,
    provision,
    send,
    service,
    sqs_event,
    usage_event,
    viewer,
)

# A default card for EUR beside the built-in USD one; GBP has none.
EUR_CARD = {
    "call_minutes": {"unit_price": "0.0110"},
    "text_messages": {"unit_price": "0.0070"},
    "number_renewals": {"unit_price": "0.90"},
    "subscription_fees": {"unit_price": "27.00"},
}


@pytest.fixture(scope="module")
def client(aws: Any) -> Iterator[Client]:
    saved = apply_env({"BILLING_DEFAULT_RATES": json.dumps({"EUR": EUR_CARD})})
    try:
        yield make_client()
    finally:
        restore_env(saved)


def rates_of(client: Client, account_id: str, headers: dict[str, str], query: str = "") -> dict[str, Any]:
    body: dict[str, Any] = ok_json(send(client, "GET", f"/accounts/{account_id}/rates{query}", headers))
    return body


def put_rates(client: Client, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = ok_json(send(client, "PUT", f"/accounts/{account_id}/rates", service(), body))
    return answer


def card(view: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {r["category"]: (r["unit_price"], r["source"]) for r in view["rates"]}


def logs(client: Client, account_id: str) -> dict[str, dict[str, Any]]:
    items = ok_json(send(client, "GET", f"/accounts/{account_id}/logs?limit=500", service()))["items"]
    return {r["event_id"]: r for r in items}


@pytest.fixture(scope="module")
def family(client: Client) -> dict[str, str]:
    """A USD agency with overrides in USD and in EUR; a shared sub (USD), an own-billing sub in
    EUR with one override of its own, a standalone EUR account and a standalone GBP one."""
    agency = provision(client, new_id("agency"), kind="agency", currency="USD")
    shared = provision(client, new_id("shared"), agency_id=agency, billing="agency", currency="USD")
    own_eur = provision(client, new_id("own"), agency_id=agency, currency="EUR")
    standalone_eur = provision(client, new_id("solo"), currency="EUR")
    standalone_gbp = provision(client, new_id("gbp"), currency="GBP")
    put_rates(client, agency, {"rates": {"call_minutes": {"unit_price": "0.0100"}}})
    put_rates(client, agency, {"currency": "EUR", "rates": {"text_messages": {"unit_price": "0.0050", "unit": "sms"}}})
    put_rates(client, own_eur, {"rates": {"number_renewals": {"unit_price": "0.75"}}})
    return {
        "agency": agency,
        "shared": shared,
        "own_eur": own_eur,
        "standalone_eur": standalone_eur,
        "standalone_gbp": standalone_gbp,
    }


# What each account is charged, and where it comes from: the one rule, written out.
EXPECTED: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "agency": (
        "USD",
        {
            "call_minutes": ("0.01", "account"),
            "number_renewals": ("1.00", "default"),
            "subscription_fees": ("30.00", "default"),
            "text_messages": ("0.0079", "default"),
        },
    ),
    "shared": (
        "USD",
        {
            "call_minutes": ("0.01", "agency"),  # the agency's price reaches its sub-accounts
            "number_renewals": ("1.00", "default"),
            "subscription_fees": ("30.00", "default"),
            "text_messages": ("0.0079", "default"),
        },
    ),
    "own_eur": (
        "EUR",
        {
            "call_minutes": ("0.011", "default"),  # the agency's USD price is not a EUR price
            "number_renewals": ("0.75", "account"),
            "subscription_fees": ("27.00", "default"),
            "text_messages": ("0.005", "agency"),  # the agency's EUR price for its EUR sub-accounts
        },
    ),
    "standalone_eur": (
        "EUR",
        {
            "call_minutes": ("0.011", "default"),
            "number_renewals": ("0.90", "default"),
            "subscription_fees": ("27.00", "default"),
            "text_messages": ("0.007", "default"),
        },
    ),
}
QUANTITY = {"call_minutes": "7", "text_messages": "3", "number_renewals": "2", "subscription_fees": "1"}


def test_get_rates_says_where_each_rate_comes_from(client: Client, family: dict[str, str]) -> None:
    for name, (currency, expected) in EXPECTED.items():
        view = rates_of(client, family[name], service())
        assert (view["currency"], card(view), view["unpriced"]) == (currency, expected, []), name
    # A sub-account's users see their own card the same way.
    assert card(rates_of(client, family["own_eur"], viewer(family["own_eur"]))) == EXPECTED["own_eur"][1]
    # The agency's card for its sub-accounts in EUR.
    eur = rates_of(client, family["agency"], viewer(family["agency"]), "?currency=EUR")
    assert (eur["currency"], card(eur)["text_messages"], card(eur)["call_minutes"]) == (
        "EUR",
        ("0.005", "account"),
        ("0.011", "default"),
    )
    # GBP has no card at all: nothing priced, every usage category listed as unpriced.
    gbp = rates_of(client, family["standalone_gbp"], service())
    assert (gbp["currency"], gbp["rates"]) == ("GBP", [])
    assert gbp["unpriced"] == ["call_minutes", "number_renewals", "subscription_fees", "text_messages"]


def test_intake_and_writer_charge_what_get_rates_says(client: Client, family: dict[str, str]) -> None:
    """POST /usage-events -> the queue -> the writer: every amount is GET rates' price x quantity."""
    drain_queue(get_settings().usage_queue_name)
    events = [
        usage_event(family[name], category, QUANTITY[category], event_id=f"{family[name]}-{category}")
        for name in EXPECTED
        for category in QUANTITY
    ]
    posted = ok_json(send(client, "POST", "/usage-events", service(), {"events": events}), 202)
    assert posted["accepted"] == len(events)
    import app as app_module

    messages = drain_queue(get_settings().usage_queue_name)
    assert app_module.ingest_usage_events(sqs_event(messages), None) == {"batchItemFailures": []}
    for name, (currency, expected) in EXPECTED.items():
        rows = logs(client, family[name])
        for category, (price, _) in expected.items():
            r = rows[f"{family[name]}-{category}"]
            amount = -Decimal(price) * Decimal(QUANTITY[category])
            assert (r["unit_price"], Decimal(r["amount"]), r["currency"]) == (price, amount, currency), (name, r)
    # The unit comes from the card that set the price.
    assert logs(client, family["own_eur"])[f"{family['own_eur']}-text_messages"]["unit"] == "sms"


def test_a_currency_without_a_card_is_refused_never_priced_in_another(client: Client, family: dict[str, str]) -> None:
    gbp = family["standalone_gbp"]
    event = usage_event(gbp, "call_minutes", "5", event_id=new_id("gbp"))
    error = assert_error(send(client, "POST", "/usage-events", service(), {"events": [event]}), 400)
    assert "no GBP rate for call_minutes" in error["message"], error
    # On the queue path: dead-lettered with the same reason, nothing charged.
    outcome = charge([event], expect_dead=1)
    assert outcome.dead_lettered and "no GBP rate for call_minutes" in outcome.dead_lettered[0][1]
    assert logs(client, gbp) == {}
    # An item that carries its own price needs no card; an override prices the rest.
    priced = usage_event(gbp, "subscription_fees", "1", event_id=new_id("gbp"), amount="20.00")
    charge([priced])
    assert logs(client, gbp)[priced["event_id"]]["amount"] == "-20.00"
    put_rates(client, gbp, {"rates": {"call_minutes": {"unit_price": "0.009"}}})
    charge([event])
    assert logs(client, gbp)[event["event_id"]]["amount"] == "-0.045"


def test_a_eur_account_is_priced_with_the_eur_card(client: Client) -> None:
    account_id = provision(client, new_id("eur"), currency="EUR")
    charge([credit(account_id, "10.00"), usage_event(account_id, "call_minutes", "10", event_id=f"{account_id}-c")])
    row = logs(client, account_id)[f"{account_id}-c"]
    assert (row["unit_price"], row["amount"], row["currency"]) == ("0.011", "-0.11", "EUR")  # not USD's 0.0125
    balance = ok_json(send(client, "GET", f"/accounts/{account_id}/balance", viewer(account_id)))
    assert (balance["balance"], balance["currency"]) == ("9.89", "EUR")


def test_put_rates_on_an_agency_reaches_sub_accounts_but_not_another_agencys(client: Client) -> None:
    agency = provision(client, new_id("agency"), kind="agency")
    sub = provision(client, new_id("sub"), agency_id=agency)
    other_agency = provision(client, new_id("agency"), kind="agency")
    other_sub = provision(client, new_id("sub"), agency_id=other_agency)
    put_rates(client, agency, {"rates": {"text_messages": {"unit_price": "0.002"}}})
    assert card(rates_of(client, sub, viewer(sub)))["text_messages"] == ("0.002", "agency")
    assert card(rates_of(client, other_sub, viewer(other_sub)))["text_messages"] == ("0.0079", "default")
    charge([usage_event(sub, "text_messages", "10", event_id=f"{sub}-t")])
    assert logs(client, sub)[f"{sub}-t"]["amount"] == "-0.02"
    # The sub-account's own override wins over its agency's; clearing it falls back to the agency's.
    ok_json(
        send(
            client,
            "PUT",
            f"/accounts/{sub}/rates",
            admin(agency),
            {"rates": {"text_messages": {"unit_price": "0.003"}}},
        )
    )
    assert card(rates_of(client, sub, viewer(sub)))["text_messages"] == ("0.003", "account")
    ok_json(send(client, "PUT", f"/accounts/{sub}/rates", admin(agency), {"rates": {}}))
    assert card(rates_of(client, sub, viewer(sub)))["text_messages"] == ("0.002", "agency")
    # An agency's admin may not set its own agency's prices (the platform does).
    body = {"rates": {"text_messages": {"unit_price": "0.0001"}}}
    assert_error(send(client, "PUT", f"/accounts/{agency}/rates", admin(agency), body), 403)


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"currency": "eur", "rates": {}}, "currency"),
        ({"currency": "EURO", "rates": {}}, "currency"),
        ({"currency": 5, "rates": {}}, "currency"),
        ({"currency": "EUR"}, "rates"),
    ],
)
def test_bad_currency_in_put_rates_is_400(client: Client, body: dict[str, Any], mentions: str) -> None:
    agency = provision(client, new_id("agency"), kind="agency")
    error = assert_error(send(client, "PUT", f"/accounts/{agency}/rates", service(), body), 400, "bad_request")
    assert mentions in error["message"]


def test_only_an_agency_has_rates_in_another_currency(client: Client) -> None:
    account_id = provision(client, new_id("usd"), currency="USD")
    body = {"currency": "EUR", "rates": {"call_minutes": {"unit_price": "0.01"}}}
    error = assert_error(send(client, "PUT", f"/accounts/{account_id}/rates", service(), body), 400)
    assert "own currency USD" in error["message"]
    assert_error(send(client, "GET", f"/accounts/{account_id}/rates?currency=EUR", viewer(account_id)), 400)
    # Naming its own currency is fine.
    same = {"currency": "USD", "rates": {"call_minutes": {"unit_price": "0.01"}}}
    assert card(put_rates(client, account_id, same))["call_minutes"] == ("0.01", "account")


def test_overrides_are_kept_per_currency(client: Client) -> None:
    """An account that changes currency (before any entry) is not priced with the old currency's overrides."""
    account_id = provision(client, new_id("switch"), currency="USD")
    put_rates(client, account_id, {"rates": {"call_minutes": {"unit_price": "0.02"}}})
    ok_json(send(client, "PUT", f"/accounts/{account_id}", service(), {"name": "Switcher", "currency": "EUR"}))
    assert card(rates_of(client, account_id, viewer(account_id)))["call_minutes"] == ("0.011", "default")
    ok_json(send(client, "PUT", f"/accounts/{account_id}", service(), {"name": "Switcher", "currency": "USD"}))
    assert card(rates_of(client, account_id, viewer(account_id)))["call_minutes"] == ("0.02", "account")


def test_overrides_stored_before_rates_were_per_currency_are_read_in_the_accounts_currency(client: Client) -> None:
    from chalicelib.adapters.tables.accounts import AccountRecord

    account_id = provision(client, new_id("legacy"), currency="EUR")
    AccountRecord(account_id).update(
        actions=[AccountRecord.rates.set({"call_minutes": {"unit": "minute", "unit_price_micros": 9_000}})]
    )
    assert card(rates_of(client, account_id, viewer(account_id)))["call_minutes"] == ("0.009", "account")


def test_a_balance_never_takes_another_currency(client: Client) -> None:
    """A shared sub-account in another currency than its agency (stored by a path that skipped the
    rule, or a race) is refused by intake and the writer alike, never charged to the balance."""
    agency = provision(client, new_id("agency"), kind="agency", currency="USD")
    sub = provision(client, new_id("sub"), agency_id=agency, currency="EUR")  # own billing: fine
    repo = AccountRepository()
    stored = repo.get(sub)
    assert stored is not None
    from dataclasses import replace

    repo.save(replace(stored, billing=Billing.AGENCY))
    event = usage_event(sub, "call_minutes", "1", event_id=new_id("mixed"))
    error = assert_error(send(client, "POST", "/usage-events", service(), {"events": [event]}), 400)
    assert "never mixed" in error["message"]
    outcome = charge([event], expect_dead=1)
    assert "holds USD" in outcome.dead_lettered[0][1]
    assert ok_json(send(client, "GET", f"/accounts/{agency}/balance", viewer(agency)))["entries"] == 0


# -- the currency rules of provisioning, on every path -------------------------------------------
def put_account(client: Client, account_id: str, body: dict[str, Any]) -> Any:
    return send(client, "PUT", f"/accounts/{account_id}", service(), body)


def test_a_shared_sub_account_bills_in_its_agencys_currency_on_every_path(client: Client) -> None:
    usd = provision(client, new_id("agency"), kind="agency", currency="USD")
    eur = provision(client, new_id("agency"), kind="agency", currency="EUR")
    # Created on shared billing in another currency.
    body = {"name": "x", "agency_id": usd, "billing": "agency", "currency": "EUR"}
    assert_error(put_account(client, new_id("sub"), body), 400, mentions="currency: shared billing")
    # An own-billing EUR sub-account moved onto its USD agency's balance.
    own = provision(client, new_id("own"), agency_id=usd, currency="EUR")
    moved = {"name": "x", "agency_id": usd, "billing": "agency", "currency": "EUR"}
    assert_error(put_account(client, own, moved), 400, mentions="currency:")
    # A shared sub-account changing its currency.
    shared = provision(client, new_id("shared"), agency_id=usd, billing="agency", currency="USD")
    changed = {"name": "x", "agency_id": usd, "billing": "agency", "currency": "EUR"}
    assert_error(put_account(client, shared, changed), 400, mentions="currency:")
    # A shared sub-account moving to an agency of another currency.
    to_eur = {"name": "x", "agency_id": eur, "billing": "agency", "currency": "USD"}
    assert_error(put_account(client, shared, to_eur), 400, mentions="currency:")
    # The agency changing its currency under its sub-accounts (even before any entry).
    agency_change = {"name": "x", "kind": "agency", "currency": "EUR"}
    assert_error(put_account(client, usd, agency_change), 400, mentions="currency:")
    # Nothing changed.
    got = {a: ok_json(send(client, "GET", f"/accounts/{a}", service())) for a in (usd, own, shared)}
    assert [(got[a]["currency"], got[a]["billing"]) for a in (usd, own, shared)] == [
        ("USD", "own"),
        ("EUR", "own"),
        ("USD", "agency"),
    ]


def test_agency_totals_and_the_usage_csv_never_add_two_currencies(client: Client) -> None:
    agency = provision(client, new_id("agency"), kind="agency", currency="USD")
    shared = provision(client, new_id("shared"), agency_id=agency, billing="agency", currency="USD")
    eur = provision(client, new_id("eur"), agency_id=agency, currency="EUR")
    charge(
        [
            usage_event(shared, "subscription_fees", "1", amount="0.16"),
            usage_event(eur, "subscription_fees", "1", amount="40.00"),
        ]
    )
    period = "from=2026-01-01&to=2026-01-31"
    for path in (f"/agencies/{agency}/dashboard?{period}", f"/agencies/{agency}/usage?{period}&group_by=total"):
        body = ok_json(send(client, "GET", path, viewer(agency)))
        totals = {t["currency"]: t.get("cost", t.get("total_amount")) for t in body["totals_by_currency"]}
        assert totals == {"USD": "0.16", "EUR": "40.00"}, path  # never "USD 40.16"
        assert body["totals"]["currency"] == "USD"
    response = send(client, "GET", f"/agencies/{agency}/usage?{period}&group_by=total&format=csv", viewer(agency))
    rows = list(csv.DictReader(io.StringIO(response.body.decode())))
    assert {(r["account_id"], r["currency"], r["amount"]) for r in rows if r["amount"] not in ("0", "0.00")} == {
        (shared, "USD", "0.16"),
        (eur, "EUR", "40.00"),
    }
