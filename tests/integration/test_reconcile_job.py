"""The scheduled reconcile: each run checks what was posted since its checkpoints, and a rolling
slice of balances in full; a finding keeps its checkpoint, so it is reported until mended."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.tables.ledger import LedgerEntryRecord
from chalicelib.handlers.reconcile import reconcile_ledger
from chalicelib.services.reconcile_job import run_scheduled
from chalicelib.services.usage import record_usage

from .usage_helpers import event_body, message, new_id, provision

pytestmark = pytest.mark.usefixtures("aws")


def never(*_: object) -> None:
    raise AssertionError("nothing should be dead-lettered")


def post(account: str, count: int) -> list[str]:
    ids = [new_id("e") for _ in range(count)]
    assert record_usage([message(event_body(i, account), account) for i in ids], dead_letter=never).charged == count
    return ids


def test_runs_check_what_is_new_and_a_rolling_slice_and_report_until_mended() -> None:
    accounts = [provision(new_id("acct")) for _ in range(3)]
    for account in accounts:
        post(account, 4)
    first = run_scheduled(slice_size=0)
    assert first.findings == [] and first.balances_moved >= 3 and first.entries_checked >= 12
    assert run_scheduled(slice_size=0).balances_moved == 0  # nothing new: nothing read but the heads

    # A new entry edited after it was written: the next incremental run finds it, and again
    # on the run after (its checkpoint did not move past it).
    new = post(accounts[0], 2)
    record = LedgerEntryRecord.get(new[0])
    original = record.description
    record.update(actions=[LedgerEntryRecord.description.set("edited")])
    kinds = {f.kind for f in run_scheduled(slice_size=0).findings}
    assert "entry_seal" in kinds and "entry_seal" in {f.kind for f in run_scheduled(slice_size=0).findings}
    record.update(actions=[LedgerEntryRecord.description.set(original)])
    assert run_scheduled(slice_size=0).findings == []

    # An old entry edited: past every checkpoint, so only the rolling full pass finds it.
    old = LedgerEntryRecord.scan(LedgerEntryRecord.account_id == accounts[1]).next()
    amount = old.amount_micros
    old.update(actions=[LedgerEntryRecord.amount_micros.set(-1)])
    assert run_scheduled(slice_size=0).findings == []
    rolled: set[str] = set()
    for _ in range(10):  # the slice walks every balance in turn
        report = run_scheduled(slice_size=1)
        rolled |= {f.kind for f in report.findings}
    assert "entry_seal" in rolled
    old.update(actions=[LedgerEntryRecord.amount_micros.set(amount)])


def test_the_handler_counts_drift_for_the_alarm(capsys: pytest.CaptureFixture[str]) -> None:
    summary: dict[str, Any] = reconcile_ledger(None)  # type: ignore[arg-type]
    assert summary["drift"] == 0
    out = capsys.readouterr().out
    assert '"ReconcileDrift"' in out and '"ReconcileEntriesChecked"' in out
