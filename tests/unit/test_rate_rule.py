"""services/rates.rate_card_for: the one pricing rule, for an own-billing sub-account, a shared
one, an agency and a standalone account, in two currencies (no AWS: settings only)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from chalicelib.domain.accounts import Account, AccountKind, Billing
from chalicelib.domain.categories import Category
from chalicelib.domain.pricing import RateSource, parse_rate_overrides
from chalicelib.services.rates import billing_currency_problem, rate_card_for, rates_view
from devtools.environment import apply_env, restore_env


@pytest.fixture(autouse=True)
def eur_card() -> Iterator[None]:
    saved = apply_env({"BILLING_DEFAULT_RATES": json.dumps({"EUR": {"call_minutes": {"unit_price": "0.011"}}})})
    try:
        yield
    finally:
        restore_env(saved)


def account(
    account_id: str,
    currency: str,
    *,
    kind: AccountKind = AccountKind.ACCOUNT,
    agency: str | None = None,
    billing: Billing = Billing.OWN,
    overrides: dict[str, dict[str, dict[str, str]]] | None = None,
) -> Account:
    return Account(
        account_id=account_id,
        name=account_id,
        kind=kind,
        time_zone="UTC",
        currency=currency,
        agency_id=agency,
        billing=billing,
        rate_overrides={code: parse_rate_overrides(raw) for code, raw in (overrides or {}).items()},
    )


AGENCY = account(
    "ag",
    "USD",
    kind=AccountKind.AGENCY,
    overrides={"USD": {"call_minutes": {"unit_price": "0.01"}}, "EUR": {"call_minutes": {"unit_price": "0.008"}}},
)


@pytest.mark.parametrize(
    ("who", "agency", "price", "source"),
    [
        (AGENCY, None, 10_000, RateSource.ACCOUNT),
        (account("shared", "USD", agency="ag", billing=Billing.AGENCY), AGENCY, 10_000, RateSource.AGENCY),
        (account("own-usd", "USD", agency="ag"), AGENCY, 10_000, RateSource.AGENCY),
        (account("own-eur", "EUR", agency="ag"), AGENCY, 8_000, RateSource.AGENCY),
        (
            account("own-eur-2", "EUR", agency="ag", overrides={"EUR": {"call_minutes": {"unit_price": "0.007"}}}),
            AGENCY,
            7_000,
            RateSource.ACCOUNT,
        ),
        (account("solo-usd", "USD"), None, 12_500, RateSource.DEFAULT),
        (account("solo-eur", "EUR"), None, 11_000, RateSource.DEFAULT),
        # Another agency's overrides never price an account that is not its sub-account.
        (account("solo-eur-2", "EUR"), AGENCY, 11_000, RateSource.DEFAULT),
    ],
)
def test_one_rule_for_every_kind_of_account(
    who: Account, agency: Account | None, price: int, source: RateSource
) -> None:
    card = rate_card_for(who, agency)
    assert card.currency == who.currency
    assert (card.rate_for(Category.CALL_MINUTES).unit_price_micros, card.source_of(Category.CALL_MINUTES)) == (
        price,
        source,
    )
    view = rates_view(who, agency)
    assert next(r for r in view["rates"] if r["category"] == "call_minutes")["source"] == source.value


def test_eur_has_only_what_its_card_gives() -> None:
    card = rate_card_for(account("solo-eur", "EUR"), None)
    assert card.unpriced() == [Category.NUMBER_RENEWALS, Category.SUBSCRIPTION_FEES, Category.TEXT_MESSAGES]


def test_a_balance_never_takes_another_currency() -> None:
    shared_eur = account("s", "EUR", agency="ag", billing=Billing.AGENCY)
    assert "holds USD" in str(billing_currency_problem(shared_eur, AGENCY))
    assert billing_currency_problem(account("s", "USD", agency="ag", billing=Billing.AGENCY), AGENCY) is None
    assert billing_currency_problem(account("own", "EUR", agency="ag"), None) is None
