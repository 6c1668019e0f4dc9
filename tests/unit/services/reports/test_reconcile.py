"""services/reconcile.py, reconcile_job.py and rebuild.py on the fakes.

The ledger is written by the real writer (and a card payment credited by services/payments.py);
a clean ledger reconciles with no finding, and each corruption injected into the fakes' stored
items is reported by its kind. Rebuild derives the same pages, rollups and posting days again.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from chalicelib.domain.ledger_check import ChainPoint
from chalicelib.domain.payments import Payment, PaymentStatus
from chalicelib.domain.rollups import RollupTotals
from chalicelib.services.payments import credit_payment
from chalicelib.services.rebuild import needed, rebuild
from chalicelib.services.reconcile import findings, reconcile_all
from chalicelib.services.reconcile_job import run_scheduled
from tests.fakes.world import card_payment
from tests.unit.services.reports.conftest import World, recharge, usage

# The module itself (`from chalicelib.services import reconcile` binds a first-use stand-in).
reconcile_module = importlib.import_module("chalicelib.services.reconcile")

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def hours_ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def kinds(world: World) -> set[str]:
    return {f.kind for f in findings(reconcile_all(recheck_after=0))}


def payment(world: World, billing_account_id: str, amount_micros: int, status: PaymentStatus) -> Payment:
    paid = card_payment(
        billing_account_id,
        f"pay_{len(list(world.payments.all_payments())) + 1}",
        status=status,
        amount_micros=amount_micros,
        created_at=hours_ago(30),
    )
    world.payments.seed(paid)
    return paid


@pytest.fixture
def ledger(world: World) -> World:
    """An agency with a shared and an own-billing client, a standalone account, a card payment
    credited, and entries posted over several days by the writer."""
    world.provision("ag", kind="agency", time_zone="America/New_York")
    world.provision("shared", agency_id="ag", billing="agency", time_zone="Asia/Kolkata")
    world.provision("own", agency_id="ag", time_zone="Europe/London")
    world.provision("solo")
    for days in (3, 2, 1):
        world.clock.now = NOW - timedelta(days=days)
        world.record(
            usage("ag", hours_ago(24 * days + 1)),
            usage("shared", hours_ago(24 * days + 2), "text_messages", "2"),
            usage("own", hours_ago(24 * days + 1), "number_renewals", "1"),
            usage("solo", hours_ago(24 * days + 3)),
        )
    world.clock.now = NOW
    world.record(recharge("solo", hours_ago(1), "20"))
    credit_payment(payment(world, "ag", 25_000_000, PaymentStatus.SUCCEEDED))
    return world


def test_a_clean_ledger_reconciles(ledger: World) -> None:
    reports = reconcile_all(recheck_after=0)
    assert findings(reports) == []
    by_balance = {r.billing_account_id: r for r in reports}
    assert {"ag", "own", "solo"} <= set(by_balance)
    assert by_balance["ag"].entries == 7  # 3 own calls, 3 shared texts, the card credit
    assert (
        by_balance["ag"].balance_micros
        == by_balance["ag"].recomputed_micros
        == ledger.ledger.balance("ag").balance_micros
    )


def test_a_finding_is_checked_again_after_a_moment(ledger: World) -> None:
    head = ledger.tables.heads["solo"]
    head["balance_micros"] = {"N": "1"}
    slept: list[float] = []
    reports = reconcile_all(recheck_after=2.5, sleep=slept.append)
    assert slept == [2.5]
    assert {f.kind for f in findings(reports)} == {"head_balance"}


def test_the_account_list_narrows_what_is_judged(ledger: World) -> None:
    ledger.tables.heads["solo"]["balance_micros"] = {"N": "1"}
    own = ledger.accounts.get("own")
    assert own is not None
    assert findings(reconcile_all([own], recheck_after=0)) == []


def entry_of(world: World, account_id: str, seq: int) -> dict[str, Any]:
    [raw] = [
        r for r in world.tables.entries.values() if r["account_id"]["S"] == account_id and int(r["seq"]["N"]) == seq
    ]
    return raw


CORRUPTIONS = {
    "head_balance": lambda w: w.tables.heads["solo"].update(balance_micros={"N": "123"}),
    "head_seq": lambda w: w.tables.heads["solo"].update(seq={"N": "9"}),
    "head_seal": lambda w: w.tables.heads["solo"].update(seal={"S": "forged"}),
    "head_missing": lambda w: w.tables.heads.pop("solo"),
    "entry_seal": lambda w: entry_of(w, "solo", 2).update(description={"S": "edited"}),
    "entry_unsealed": lambda w: entry_of(w, "solo", 2).pop("seal"),
    "entry_price": lambda w: entry_of(w, "solo", 1).update(unit_price_micros={"N": "99"}),
    "chain_balance": lambda w: entry_of(w, "solo", 2).update(balance_after_micros={"N": "5"}),
    "listing_differs": lambda w: entry_of(w, "own", 1).update(quantity={"S": "2"}),
    "listing_missing": lambda w: [w.tables.pages.pop(k) for k in list(w.tables.pages) if k[0].startswith("solo#")][:0],
    "listing_stray": lambda w: w.tables.entries.pop(entry_of(w, "solo", 3)["event_id"]["S"]),
    "rollup": lambda w: next(iter(w.tables.rollups.values())).__setitem__(
        next(iter(next(iter(w.tables.rollups.values())))), RollupTotals(99, 1, -1)
    ),
    "posting_day": lambda w: w.tables.balance_days.pop(next(iter(w.tables.balance_days))),
    "orphan": lambda w: w.accounts.items.pop("solo"),
    "payment_uncredited": lambda w: payment(w, "solo", 5_000_000, PaymentStatus.SUCCEEDED),
    "credit_without_payment": lambda w: w.record(
        usage("solo", hours_ago(1)) | {"event_id": "payment:pay_nowhere", "category": "recharge", "amount": "3"}
    ),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_each_corruption_is_reported(ledger: World, kind: str) -> None:
    CORRUPTIONS[kind](ledger)
    assert kind in kinds(ledger)


def test_an_unpaid_payment_with_a_credit_is_reported(ledger: World) -> None:
    paid = next(p for p in ledger.payments.all_payments() if p.billing_account_id == "ag")
    ledger.payments.seed(replace(paid, status=PaymentStatus.FAILED))
    assert "payment_credit_unpaid" in kinds(ledger)


def test_a_credit_of_another_amount_is_reported(ledger: World) -> None:
    paid = next(p for p in ledger.payments.all_payments() if p.billing_account_id == "ag")
    ledger.payments.seed(replace(paid, amount_micros=paid.amount_micros + 1))
    assert "payment_credit_amount" in kinds(ledger)


def test_a_rollup_kept_under_another_scope_is_stray(ledger: World) -> None:
    [(partition, key)] = [k for k in ledger.tables.rollups if k[0].startswith("solo#") and "#D#" in k[0]][:1]
    ledger.tables.rollups[(partition.replace("solo#", "ag#", 1), key)] = copy.deepcopy(
        ledger.tables.rollups[(partition, key)]
    )
    assert "rollup_stray" in kinds(ledger)


def test_a_page_missing_from_the_agencys_logs_is_reported(ledger: World) -> None:
    [page] = [k for k, raw in ledger.tables.pages.items() if k[0].startswith("shared#")][:1]
    del ledger.tables.pages[page]["agency_log_key"]
    assert "listing_agency" in kinds(ledger)


def test_an_account_billing_elsewhere_now_is_reported(ledger: World) -> None:
    own = ledger.accounts.get("own")
    assert own is not None
    ledger.accounts.items["own"]["billing"] = {"S": "agency"}
    assert "orphan" in kinds(ledger)


def test_main_prints_a_table_and_exits_non_zero_on_drift(ledger: World, capsys, monkeypatch) -> None:
    # No pause before the recheck (reconcile_all's default sleep is time.sleep, bound at import).
    monkeypatch.setattr(reconcile_module, "reconcile_all", partial(reconcile_all, recheck_after=0))
    assert reconcile_module.main() == 0
    assert "0 with drift" in capsys.readouterr().out
    ledger.tables.heads["solo"]["balance_micros"] = {"N": "1"}
    assert reconcile_module.main() == 1
    out = capsys.readouterr().out
    assert "DRIFT" in out and "1 with drift (head_balance)" in out


# -- the scheduled job -------------------------------------------------------------------------------------


def test_the_scheduled_job_checks_what_moved_and_a_rolling_slice(ledger: World) -> None:
    first = run_scheduled(slice_size=2)
    assert first.findings == [] and first.balances == 3 and first.balances_moved == 3
    assert first.rolling == ["ag", "own"]
    marks = ledger.checkpoints.balances()
    head = ledger.ledger.balance("solo")
    assert marks["solo"][0] == ChainPoint(head.seq, head.balance_micros, head.seal or "")
    assert ledger.checkpoints.rolling_after() == "own"

    ledger.record(usage("solo", hours_ago(0.5)))
    second = run_scheduled(slice_size=2)
    assert (second.balances_moved, second.findings) == (1, [])
    assert second.rolling == ["solo", "ag"]  # wraps around
    assert second.as_dict()["rolling_checked"] == 2 and second.as_dict()["drift"] == 0


def test_the_scheduled_job_reports_a_bad_new_entry_until_it_is_mended(ledger: World) -> None:
    run_scheduled(slice_size=1)
    before = ledger.checkpoints.balances()["solo"]
    ledger.record(usage("solo", hours_ago(0.5)))
    entry_of(ledger, "solo", ledger.ledger.balance("solo").seq)["amount_micros"] = {"N": "-1"}
    for _ in range(2):
        report = run_scheduled(slice_size=1)
        assert {"entry_seal", "listing_differs", "chain_balance"} <= {f.kind for f in report.findings}
        assert ledger.checkpoints.balances()["solo"] == before  # the checkpoint stays put
    assert report.as_dict()["drift"] == len(report.findings)


# An own-billing client of an agency, alone in the rolling slice, brings its whole scope in.
def test_a_rolling_slice_of_an_agencys_own_billing_client_alone_finds_nothing(ledger: World) -> None:
    reports = [run_scheduled(slice_size=1) for _ in range(3)]
    assert [r.rolling for r in reports] == [["ag"], ["own"], ["solo"]]
    assert [str(f) for r in reports for f in r.findings] == []


def test_the_scheduled_job_with_no_balances_does_nothing(world: World) -> None:
    report = run_scheduled()
    assert report.as_dict() == {
        "balances": 0,
        "balances_moved": 0,
        "entries_checked": 0,
        "rolling_checked": 0,
        "drift": 0,
        "findings": [],
    }
    assert world.checkpoints.rolling_after() is None


# -- rebuild -----------------------------------------------------------------------------------------------


def test_rebuild_derives_the_same_pages_rollups_and_days(ledger: World, capsys) -> None:
    pages, rollups, days = (
        copy.deepcopy(t) for t in (ledger.tables.pages, ledger.tables.rollups, ledger.tables.balance_days)
    )
    ledger.tables.pages.clear()
    ledger.tables.rollups.clear()
    ledger.tables.balance_days.clear()
    assert needed() is True
    summary = rebuild()
    assert needed() is False
    assert (summary.entries, summary.skipped_entries, summary.entries_sealed) == (len(ledger.tables.entries), 0, 0)
    assert summary.pages == len(pages) and summary.balance_days == len(days)
    assert ledger.tables.pages == pages and ledger.tables.rollups == rollups and ledger.tables.balance_days == days
    assert findings(reconcile_all(recheck_after=0)) == []
    assert "Logs pages" in capsys.readouterr().out
    again = rebuild(verbose=False)  # idempotent
    assert ledger.tables.pages == pages and again.pages == summary.pages


def test_rebuild_seals_entries_written_before_seals_and_leaves_others(ledger: World) -> None:
    for raw in ledger.tables.entries.values():
        if raw["billing_account_id"]["S"] == "solo":
            raw.pop("seal")
    ledger.tables.heads["solo"].pop("seal")
    sealed_ag = {k: v["seal"] for k, v in ledger.tables.entries.items() if v["billing_account_id"]["S"] == "ag"}
    summary = rebuild(verbose=False)
    assert summary.entries_sealed == ledger.ledger.balance("solo").seq
    assert {k: v["seal"] for k, v in ledger.tables.entries.items() if v["billing_account_id"]["S"] == "ag"} == sealed_ag
    assert findings(reconcile_all(recheck_after=0)) == []


def test_rebuild_leaves_out_entries_of_accounts_that_no_longer_exist(ledger: World, capsys) -> None:
    ledger.accounts.items.pop("solo")
    summary = rebuild()
    assert summary.skipped_entries == ledger.ledger.balance("solo").seq
    assert "left out" in capsys.readouterr().out


def test_no_rebuild_is_needed_for_an_empty_ledger(world: World) -> None:
    assert needed() is False
