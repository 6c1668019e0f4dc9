"""Billing settings of a balance: auto-recharge, cards on file, the low-balance alert."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..adapters.gateway.base import GatewayError
from ..domain.access import Action, Principal
from ..domain.accounts import Account, AccountKind, Billing
from ..domain.cards import InvalidCard
from ..domain.money import MoneyError, format_micros, parse_micros
from ..domain.payments import BillingHead, CardOnFile, SettingsError, check_recharge_amounts
from ..domain.periods import format_instant
from .access import require
from .errors import BadRequest, Unavailable
from .payments import own_billing
from .stores import stores


def settings_view(account: Account, head: BillingHead) -> dict[str, Any]:
    s, r = head.settings, head.recharge
    return {
        "account_id": account.account_id,
        "billing": account.billing.value,
        "billing_account_id": account.billing_account_id,
        "currency": account.currency,
        "auto_recharge_enabled": s.auto_recharge_enabled,
        "threshold": format_micros(s.threshold_micros),
        "amount": format_micros(s.amount_micros),
        "primary_card": _card_view(s.primary_card),
        "backup_card": _card_view(s.backup_card),
        "low_balance_alert": None if s.low_balance_alert_micros is None else format_micros(s.low_balance_alert_micros),
        "alert_recipients": list(s.alert_recipients),
        "share_balance_with_sub_accounts": s.share_balance_with_sub_accounts,
        "recharge": {
            "in_flight": r.in_flight_id is not None,
            "consecutive_declines": r.consecutive_declines,
            "retry_after": format_instant(r.cooldown_until) if r.cooldown_until else None,
            "paused": r.paused,
        },
    }


def _card_view(card: CardOnFile | None) -> dict[str, str] | None:
    """Brand and last 4 only: the token stays on the server."""
    return None if card is None else {"brand": card.brand, "last4": card.last4}


def get_billing_settings(principal: Principal, account_id: str) -> dict[str, Any]:
    from .webhooks import billing_webhook_url

    account = require(principal, Action.READ, account_id)
    if account.billing is Billing.AGENCY:
        return {
            "account_id": account.account_id,
            "billing": account.billing.value,
            "billing_account_id": account.billing_account_id,
            "paid_by": account.billing_account_id,
        }
    view = settings_view(account, stores().billing.head(account.account_id))
    return {**view, "webhook_url": billing_webhook_url(account.account_id)}


def _money(value: object, field: str) -> int:
    try:
        return parse_micros(value, field=field)
    except MoneyError as exc:
        raise BadRequest(str(exc)) from None


def _card(token: str | None, field: str) -> CardOnFile | None:
    from ..domain.cards import validate_card_token

    if token is None:
        return None
    try:
        details = stores().gateway.describe_card(validate_card_token(token))
    except InvalidCard as exc:
        raise BadRequest(f"{field}: {exc}") from None
    except GatewayError as exc:
        raise Unavailable(f"the card gateway did not answer: {exc}") from None
    return CardOnFile(details.token, details.brand, details.last4)


def put_billing_settings(principal: Principal, account_id: str, body: object) -> dict[str, Any]:
    from ..domain.settings_schema import SettingsBodyError, given, parse_settings_body

    account = require(principal, Action.ADMIN, account_id)
    own_billing(account)
    try:
        model, fields = parse_settings_body(body)
    except SettingsBodyError as exc:
        raise BadRequest(str(exc)) from None
    repo = stores().billing
    current = repo.head(account.account_id).settings
    alert = given(model, fields, "low_balance_alert", None)
    updated = replace(
        current,
        auto_recharge_enabled=bool(given(model, fields, "auto_recharge_enabled", current.auto_recharge_enabled)),
        threshold_micros=current.threshold_micros if model.threshold is None else _money(model.threshold, "threshold"),
        amount_micros=current.amount_micros if model.amount is None else _money(model.amount, "amount"),
        primary_card=_card(model.primary_card, "primary_card") if "primary_card" in fields else current.primary_card,
        backup_card=_card(model.backup_card, "backup_card") if "backup_card" in fields else current.backup_card,
        low_balance_alert_micros=(
            (None if alert is None else _money(alert, "low_balance_alert"))
            if "low_balance_alert" in fields
            else current.low_balance_alert_micros
        ),
        alert_recipients=(
            tuple(model.alert_recipients or ()) if "alert_recipients" in fields else current.alert_recipients
        ),
        share_balance_with_sub_accounts=bool(
            given(model, fields, "share_balance_with_sub_accounts", current.share_balance_with_sub_accounts)
        ),
    )
    if updated.share_balance_with_sub_accounts and account.kind is not AccountKind.AGENCY:
        raise BadRequest("share_balance_with_sub_accounts: only an agency's balance is shared with sub-accounts")
    try:
        check_recharge_amounts(updated.threshold_micros, updated.amount_micros, updated.low_balance_alert_micros)
    except SettingsError as exc:
        raise BadRequest(str(exc)) from None
    if updated.auto_recharge_enabled and updated.primary_card is None:
        raise BadRequest("primary_card: auto-recharge needs a card on file")
    if updated.backup_card is not None and updated.primary_card is None:
        raise BadRequest("backup_card: a backup card needs a primary card")
    from .webhooks import billing_webhook_url, check_webhook_url, set_billing_webhook

    if "webhook_url" in fields and model.webhook_url is not None:
        check_webhook_url(model.webhook_url)  # refused before anything is saved
    repo.save_settings(account.account_id, account.currency, updated, stores().clock(), changed=updated != current)
    view = settings_view(account, repo.head(account.account_id))
    if "webhook_url" not in fields:
        return {**view, "webhook_url": billing_webhook_url(account.account_id)}
    secret = set_billing_webhook(account, model.webhook_url)
    # The secret that signs the webhooks: shown this once.
    return {**view, "webhook_url": model.webhook_url, **({"webhook_secret": secret} if secret else {})}
