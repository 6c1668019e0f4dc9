"""Where the scheduled reconcile has got to (tables/reconcile_checkpoints.py)."""

from __future__ import annotations

from datetime import datetime

from ..domain.reconcile import ChainPoint
from .tables.base import bind
from .tables.reconcile_checkpoints import ReconcileCheckpointRecord

_BALANCE = "balance#"
_ROLLING = "rolling"


class CheckpointRepository:
    def balances(self) -> dict[str, tuple[ChainPoint, str | None]]:
        """Every balance's checked point and the Logs row key to read on from (a scan: one item each)."""
        bind()
        found: dict[str, tuple[ChainPoint, str | None]] = {}
        for r in ReconcileCheckpointRecord.scan():
            if r.key.startswith(_BALANCE):
                point = ChainPoint(int(r.seq or 0), int(r.balance_micros or 0), r.seal or "")
                found[r.key[len(_BALANCE) :]] = (point, r.row_key)
        return found

    def save_balance(self, billing_account_id: str, point: ChainPoint, row_key: str | None, now: datetime) -> None:
        bind()
        ReconcileCheckpointRecord(
            _BALANCE + billing_account_id,
            seq=point.seq,
            seal=point.seal or None,
            balance_micros=point.balance_micros,
            row_key=row_key,
            checked_at=now,
        ).save()

    def rolling_after(self) -> str | None:
        bind()
        try:
            return ReconcileCheckpointRecord.get(_ROLLING).after
        except ReconcileCheckpointRecord.DoesNotExist:
            return None

    def save_rolling(self, after: str | None, now: datetime) -> None:
        bind()
        ReconcileCheckpointRecord(_ROLLING, after=after, checked_at=now).save()
