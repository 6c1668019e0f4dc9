"""Billing settings and recharge state, stored on the balance head.

Settings are one map attribute; the recharge state is a few attributes that the
ledger writer sets (a recharge is requested) and the recharge worker clears,
each change conditioned on the recharge id so a stale worker changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from ..domain.payments import BillingHead, BillingSettings, CardOnFile, RechargeState
from .storage_errors import error_code
from .tables.balances import BalanceRecord
from .tables.base import bind


def _card_from(raw: Any) -> CardOnFile | None:
    if not raw:
        return None
    return CardOnFile(str(raw["token"]), str(raw["brand"]), str(raw["last4"]))


def _card_to(card: CardOnFile | None) -> dict[str, str] | None:
    return None if card is None else {"token": card.token, "brand": card.brand, "last4": card.last4}


def settings_from_map(raw: Mapping[str, Any] | None) -> BillingSettings:
    if not raw:
        return BillingSettings()
    alert = raw.get("low_balance_alert_micros")
    return BillingSettings(
        auto_recharge_enabled=bool(raw.get("auto_recharge_enabled", False)),
        threshold_micros=int(raw["threshold_micros"]),
        amount_micros=int(raw["amount_micros"]),
        primary_card=_card_from(raw.get("primary_card")),
        backup_card=_card_from(raw.get("backup_card")),
        low_balance_alert_micros=None if alert is None else int(alert),
        alert_recipients=tuple(str(r) for r in raw.get("alert_recipients") or ()),
        share_balance_with_sub_accounts=bool(raw.get("share_balance_with_sub_accounts", False)),
    )


def settings_to_map(settings: BillingSettings) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "auto_recharge_enabled": settings.auto_recharge_enabled,
        "threshold_micros": settings.threshold_micros,
        "amount_micros": settings.amount_micros,
        "alert_recipients": list(settings.alert_recipients),
        "share_balance_with_sub_accounts": settings.share_balance_with_sub_accounts,
    }
    for name, card in (("primary_card", settings.primary_card), ("backup_card", settings.backup_card)):
        if card is not None:
            raw[name] = _card_to(card)
    if settings.low_balance_alert_micros is not None:
        raw["low_balance_alert_micros"] = settings.low_balance_alert_micros
    return raw


def head_from_record(record: BalanceRecord) -> BillingHead:
    raw = record.settings.as_dict() if record.settings is not None else None  # type: ignore[no-untyped-call]
    return BillingHead(
        settings=settings_from_map(raw),
        recharge=RechargeState(
            in_flight_id=record.recharge_id,
            requested_at=record.recharge_requested_at,
            consecutive_declines=int(record.consecutive_declines or 0),
            cooldown_until=record.cooldown_until,
            paused=bool(record.recharge_paused),
            low_alert_sent=bool(record.low_alert_sent),
            past_due_sent=bool(record.past_due_sent),
        ),
    )


def recharge_attributes(state: RechargeState) -> dict[str, Any]:
    """The head attributes that hold a recharge state (None: remove)."""
    return {
        "recharge_id": state.in_flight_id,
        "recharge_requested_at": state.requested_at,
        "consecutive_declines": state.consecutive_declines,
        "cooldown_until": state.cooldown_until,
        "recharge_paused": state.paused,
        "low_alert_sent": state.low_alert_sent,
        "past_due_sent": state.past_due_sent,
    }


def update_actions(values: Mapping[str, Any]) -> list[Any]:
    return [
        getattr(BalanceRecord, name).remove() if value is None else getattr(BalanceRecord, name).set(value)
        for name, value in values.items()
    ]


class BillingRepository:
    def head(self, billing_account_id: str) -> BillingHead:
        bind()
        try:
            return head_from_record(BalanceRecord.get(billing_account_id, consistent_read=True))
        except BalanceRecord.DoesNotExist:
            return BillingHead()

    def save_settings(
        self, billing_account_id: str, currency: str, settings: BillingSettings, now: datetime, *, changed: bool
    ) -> None:
        """Replace the settings; a change of settings also lifts a pause and the cool-down."""
        bind()
        values: dict[str, Any] = {"settings": settings_to_map(settings), "updated_at": now}
        if changed:
            values.update({"recharge_paused": False, "consecutive_declines": 0, "cooldown_until": None})
        try:
            # A balance without entries has no head yet: create it, empty.
            BalanceRecord(
                billing_account_id,
                balance_micros=0,
                seq=0,
                currency=currency,
                **{k: v for k, v in values.items() if v is not None},
            ).save(condition=BalanceRecord.billing_account_id.does_not_exist())
        except PutError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            BalanceRecord(billing_account_id).update(actions=update_actions(values))

    def finish_recharge(self, billing_account_id: str, recharge_id: str, state: RechargeState, now: datetime) -> bool:
        """Store the state after a recharge ended, if that recharge is still the one in flight."""
        bind()
        try:
            BalanceRecord(billing_account_id).update(
                actions=update_actions({**recharge_attributes(state), "updated_at": now}),
                condition=BalanceRecord.recharge_id == recharge_id,
            )
        except UpdateError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True
