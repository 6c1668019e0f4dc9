"""`make rebuild` derives Logs pages, rollups and posting days from the entries, idempotently,
also for a ledger written before pages existed (entries that do not say their page)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.tables.balance_days import BalanceDayRecord
from chalicelib.adapters.tables.balances import BalanceRecord
from chalicelib.adapters.tables.base import bind
from chalicelib.adapters.tables.ledger import LedgerEntryRecord
from chalicelib.adapters.tables.ledger_pages import LedgerPageRecord
from chalicelib.adapters.tables.rollups import RollupRecord
from chalicelib.services.rebuild import needed, rebuild
from chalicelib.services.reconcile import reconcile_all
from chalicelib.services.usage import record_usage

from .usage_helpers import event_body, message, new_id, provision

pytestmark = pytest.mark.usefixtures("aws")
DERIVED = (LedgerPageRecord, RollupRecord, BalanceDayRecord)


def never(*_: object) -> None:
    raise AssertionError("nothing should be dead-lettered")


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every derived item, as stored."""
    return {
        m.__name__: sorted(
            (r.attribute_values for r in m.scan()),
            key=lambda v: (
                v["partition" if "partition" in v else "log_key"],
                v["bucket_key" if "bucket_key" in v else "row_key"],
            ),
        )
        for m in DERIVED
    }


def test_rebuild_restores_what_the_writer_wrote_and_reruns_change_nothing() -> None:
    bind()
    agency = provision(new_id("agency"), kind="agency")
    subs = [provision(new_id("sub"), agency_id=agency, billing="agency" if i % 2 else "own") for i in range(4)]
    standalone = provision(new_id("acct"))
    accounts = [agency, *subs, standalone]
    batch = [message(event_body(new_id("e"), a, "recharge", amount="20.00"), a) for a in accounts]
    for round_ in range(3):
        batch += [
            message(event_body(new_id("e"), a, ("call_minutes", "text_messages")[round_ % 2]), a) for a in accounts
        ]
    record_usage(batch, dead_letter=never)
    record_usage([message(event_body(new_id("e"), a), a) for a in accounts], dead_letter=never)
    written = snapshot()
    assert not needed()

    for model in DERIVED:  # lose every derived item
        for record in model.scan():
            record.delete()
    assert needed()
    rebuild(verbose=False)
    assert snapshot() == written
    rebuild(verbose=False)  # again: the same items, unchanged
    assert snapshot() == written
    assert all(r.ok for r in reconcile_all(recheck_after=0))


def test_a_ledger_from_before_pages_is_given_its_pages() -> None:
    """Entries written before pages existed carry no page_seq (pages are runs of one account) and no
    seal (they are sealed now, and reconcile checks the seals)."""
    bind()
    account = provision(new_id("acct"))
    record_usage([message(event_body(new_id("e"), account), account) for _ in range(5)], dead_letter=never)
    record_usage([message(event_body(new_id("e"), account), account) for _ in range(3)], dead_letter=never)
    for entry in LedgerEntryRecord.scan():  # written before pages and seals existed
        entry.update(actions=[LedgerEntryRecord.page_seq.remove(), LedgerEntryRecord.seal.remove()])
    for head in BalanceRecord.scan():
        head.update(actions=[BalanceRecord.seal.remove()])
    for model in DERIVED:
        for record in model.scan():
            record.delete()
    rebuild(verbose=False)
    pages = [p for p in LedgerPageRecord.scan() if p.account_id == account]
    assert sorted((int(p.first_seq), int(p.last_seq)) for p in pages) == [(1, 5), (6, 8)]
    assert all(r.ok for r in reconcile_all(recheck_after=0))
