"""Rate cards: who is priced how, by one rule for the writer, POST /usage-events and GET rates.

An account is priced in its own currency: its own override, else its agency's
override in that currency, else the default card of that currency
(`RateCard.resolve`). A shared-billing sub-account bills in its agency's currency
(provisioning refuses anything else, and the writer and intake check it again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from ..config import get_settings
from ..domain.access import Action, Principal
from ..domain.accounts import Account, AccountKind
from ..domain.categories import Category
from ..domain.money import format_micros
from ..domain.pricing import Rate, RateCard, RateCardError, is_currency_code, parse_rate_overrides
from .access import require
from .errors import BadRequest
from .ports import AccountStore
from .stores import stores


def default_cards() -> Mapping[str, Mapping[Category, Rate]]:
    """The default card of every currency (built in, with BILLING_DEFAULT_RATES on top)."""
    return get_settings().default_cards


def agency_ids(accounts: Iterable[Account]) -> set[str]:
    """The agencies whose overrides price these accounts (read beside them: see rate_card_for)."""
    return {a.agency_id for a in accounts if a.agency_id}


def rate_card_for(account: Account, agency: Account | None, currency: str | None = None) -> RateCard:
    """The prices `account`'s events are charged at, in its currency (or `currency`, for an
    agency's card for its sub-accounts in another one): account override -> agency override -> default.

    `agency` is the account's agency as read (None for an agency, a standalone account, or
    an agency that could not be found, which then contributes no overrides).
    """
    currency = currency or account.currency
    agency_overrides: Mapping[Category, Rate] = {}
    if agency is not None and account.agency_id == agency.account_id:
        agency_overrides = agency.overrides_in(currency)
    return RateCard.resolve(
        currency, default_cards().get(currency, {}), agency_overrides, account.overrides_in(currency)
    )


def billing_currency_problem(account: Account, payer: Account | None) -> str | None:
    """Why `account`'s events cannot be charged to its billing account's balance, if they cannot:
    a balance holds one currency and amounts are never converted."""
    if payer is None or payer.account_id == account.account_id or payer.currency == account.currency:
        return None
    return (
        f"account {account.account_id!r} is priced in {account.currency} but its billing account "
        f"{payer.account_id!r} holds {payer.currency}: currencies are never mixed on a balance"
    )


def rates_view(account: Account, agency: Account | None, currency: str | None = None) -> dict[str, Any]:
    card = rate_card_for(account, agency, currency)
    return {
        "account_id": account.account_id,
        "currency": card.currency,
        "rates": [
            {
                "category": category.value,
                "unit": rate.unit,
                "unit_price": format_micros(rate.unit_price_micros),
                "source": card.source_of(category).value,
            }
            for category, rate in sorted(card.rates.items(), key=lambda kv: kv[0].value)
        ],
        # Events of these categories are refused (400 / dead-lettered) unless they carry their price.
        "unpriced": [category.value for category in card.unpriced()],
    }


def _agency_of(account: Account, repo: AccountStore) -> Account | None:
    return repo.get(account.agency_id) if account.agency_id else None


def _currency(account: Account, value: object) -> str:
    """The currency a rates request is about: the account's, or for an agency any other one
    (its overrides for its sub-accounts in that currency)."""
    if value is None or value == account.currency:
        return account.currency
    if not is_currency_code(value):
        raise BadRequest("currency must be a currency code of three capital letters, like USD")
    if account.kind is not AccountKind.AGENCY:
        raise BadRequest(
            f"currency: account {account.account_id!r} is priced in its own currency {account.currency}; "
            "only an agency has rates in other currencies (for its sub-accounts)"
        )
    assert isinstance(value, str)
    return value


def get_rates(principal: Principal, account_id: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
    repo = stores().accounts
    account = require(principal, Action.READ, account_id, repo)
    currency = _currency(account, (params or {}).get("currency") or None)
    return rates_view(account, _agency_of(account, repo), currency)


def put_rates(principal: Principal, account_id: str, body: object) -> dict[str, Any]:
    """Replace the account's overrides in one currency (its own unless an agency names another);
    categories left out fall back to the agency's overrides, then to the defaults."""
    repo = stores().accounts
    account = require(principal, Action.SET_RATES, account_id, repo)
    if (
        not isinstance(body, dict)
        or "rates" not in body
        or not set(body) <= {"rates", "currency"}
        or not isinstance(body["rates"], dict)
    ):
        raise BadRequest(
            'body must be {"rates": {"call_minutes": {"unit_price": "0.0125"}, ...}} '
            '(an agency may add "currency": "EUR" for its sub-accounts in EUR)'
        )
    currency = _currency(account, body.get("currency"))
    try:
        overrides = parse_rate_overrides(body["rates"])
    except RateCardError as exc:
        raise BadRequest(str(exc)) from None
    by_currency = {**account.rate_overrides, currency: overrides}
    updated = replace(
        account,
        rate_overrides={code: card for code, card in by_currency.items() if card},
        updated_at=stores().clock(),
    )
    repo.save_rates(updated)
    return rates_view(updated, _agency_of(updated, repo), currency)
