"""Rate cards: the defaults from configuration with an account's overrides on top."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ..adapters.accounts_repo import AccountRepository
from ..config import get_settings
from ..domain.access import Action, Principal
from ..domain.accounts import Account
from ..domain.money import format_micros
from ..domain.pricing import RateCard, RateCardError, default_rates, parse_rate_overrides
from .accounts import require
from .errors import BadRequest


def rate_card_for(account: Account) -> RateCard:
    """The prices an account's events are charged at: the defaults with its overrides on top."""
    return RateCard.build(default_rates(get_settings().default_rates_json), account.rates)


def rates_view(account: Account) -> dict[str, Any]:
    defaults = default_rates(get_settings().default_rates_json)
    effective = {**defaults, **account.rates}
    return {
        "account_id": account.account_id,
        "currency": account.currency,
        "rates": [
            {
                "category": category.value,
                "unit": rate.unit,
                "unit_price": format_micros(rate.unit_price_micros),
                "source": "account" if category in account.rates else "default",
            }
            for category, rate in sorted(effective.items(), key=lambda kv: kv[0].value)
        ],
    }


def get_rates(principal: Principal, account_id: str) -> dict[str, Any]:
    return rates_view(require(principal, Action.READ, account_id))


def put_rates(principal: Principal, account_id: str, body: object) -> dict[str, Any]:
    """Replace the account's overrides; categories left out fall back to the defaults."""
    account = require(principal, Action.SET_RATES, account_id)
    if not isinstance(body, dict) or set(body) != {"rates"} or not isinstance(body["rates"], dict):
        raise BadRequest('body must be {"rates": {"call_minutes": {"unit_price": "0.0125"}, ...}}')
    try:
        overrides = parse_rate_overrides(body["rates"])
    except RateCardError as exc:
        raise BadRequest(str(exc)) from None
    updated = replace(account, rates=overrides, updated_at=datetime.now(UTC))
    AccountRepository().save_rates(updated)
    return rates_view(updated)
