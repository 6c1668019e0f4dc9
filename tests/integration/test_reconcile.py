"""The reconcile job finds nothing on an honest ledger and names drift when there is some."""

from __future__ import annotations

import pytest

from chalicelib.adapters.tables.balances import BalanceRecord
from chalicelib.services.reconcile import main, reconcile_account, reconcile_all
from chalicelib.services.usage import record_usage

from .usage_helpers import account_of, event_body, message, new_id, provision

pytestmark = pytest.mark.usefixtures("aws")


def never(*_: object) -> None:
    raise AssertionError("nothing should be dead-lettered")


def test_an_honest_ledger_reconciles(capsys):
    account = provision(new_id("acct"))
    record_usage([message(event_body(new_id("e"), account)) for _ in range(30)], dead_letter=never)
    (report,) = reconcile_all([account_of(account)])
    assert report.ok and report.entries == 30 and report.balance_micros == 30 * -37_500
    assert main() == 0
    assert "0 with drift" in capsys.readouterr().out


def test_drift_is_reported_and_fails_the_job(capsys):
    account = provision(new_id("acct"))
    record_usage([message(event_body(new_id("e"), account)) for _ in range(3)], dead_letter=never)
    # Someone edits the balance behind the ledger's back.
    BalanceRecord(account).update(actions=[BalanceRecord.balance_micros.set(1)])
    report = reconcile_account(account_of(account), recheck_after=0)
    assert not report.ok
    assert any("sum of entries" in p for p in report.problems)
    assert main() == 1
    assert "DRIFT" in capsys.readouterr().out
