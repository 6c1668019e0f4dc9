"""The reconcile job finds nothing on an honest ledger, and every kind of corruption on a corrupt one.

A small world (an agency with a shared and an own-billing sub-account, a standalone
account, card payments through the service, a recharge, a stored statement) is
reconciled clean; then each kind of corruption is made directly in the tables (as
someone with write access to them, but without the ledger key, could), reconcile must
name it, and after the corruption is undone the world reconciles clean again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.tables.accounts import AccountRecord
from chalicelib.adapters.tables.balance_days import BalanceDayRecord
from chalicelib.adapters.tables.balances import BalanceRecord
from chalicelib.adapters.tables.base import bind
from chalicelib.adapters.tables.ledger import LedgerEntryRecord
from chalicelib.adapters.tables.ledger_pages import LedgerPageRecord
from chalicelib.adapters.tables.payments import PaymentRecord
from chalicelib.adapters.tables.rollups import RollupRecord
from chalicelib.adapters.tables.statements import StatementRecord
from chalicelib.services.payments import add_funds
from chalicelib.services.reconcile import findings, main, reconcile_all
from chalicelib.services.statements import request_statement
from chalicelib.services.usage import record_usage

from .payment_helpers import account_with_card, admin_of
from .usage_helpers import account_of, event_body, message, new_id, provision

pytestmark = [pytest.mark.usefixtures("aws"), pytest.mark.slow]


def never(*_: object) -> None:
    raise AssertionError("nothing should be dead-lettered")


class World:
    def __init__(self) -> None:
        self.agency = account_with_card(kind="agency", opening="50.00", threshold="1.00")
        self.shared = provision(new_id("shared"), agency_id=self.agency, billing="agency")
        self.own = provision(new_id("own"), agency_id=self.agency)
        self.alone = account_with_card(opening="30.00", threshold="1.00")
        events = [
            event_body(new_id("e"), self.shared, "call_minutes", quantity="7"),
            event_body(new_id("e"), self.shared, "text_messages", quantity="3", metadata={"to": "+15550100"}),
            event_body(new_id("e"), self.agency, "subscription_fees", quantity="1", amount="9.00"),
            event_body(new_id("e"), self.own, "recharge", amount="5.00"),
            event_body(new_id("e"), self.own, "call_minutes", quantity="2"),
            event_body(new_id("e"), self.alone, "call_minutes", quantity="4", unit_price="0.02"),
        ]
        assert record_usage([message(b) for b in events], dead_letter=never).failed_message_ids == []
        for account, key in ((self.alone, "rc-alone-1"), (self.agency, "rc-agency-1")):
            answer = add_funds(admin_of(account), account, {"amount": "12.00"}, key)
            assert answer.status == 201, answer.body
        self.payment = next(r.payment_id for r in PaymentRecord.scan() if r.billing_account_id == self.alone)
        today = datetime.now(UTC).date()
        body = {
            "from": (today - timedelta(days=5)).isoformat(),
            "to": today.isoformat(),
            "recipients": ["a@example.com"],
        }
        self.statement = request_statement(admin_of(self.alone), self.alone, body)["statement_id"]
        self.accounts = [account_of(a) for a in (self.agency, self.shared, self.own, self.alone)]

    def kinds(self) -> set[str]:
        return {f.kind for f in findings(reconcile_all(self.accounts, recheck_after=0))}


@pytest.fixture(scope="module")
def world(aws: Any) -> World:
    bind()
    return World()


# -- raw access to the tables, as an intruder without the ledger key has it ---------------------------


def _client() -> Any:
    return LedgerEntryRecord._get_connection().connection.client


def _key_of(model: Any, item: dict[str, Any]) -> dict[str, Any]:
    names = [model._hash_keyname, *([model._range_keyname] if model._range_keyname else [])]
    return {n: item[n] for n in names}


def _items(model: Any, where: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    items = _client().scan(TableName=model.Meta.table_name)["Items"]
    return [i for i in items if where(i)]


def _one(model: Any, where: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    found = _items(model, where)
    assert found, f"nothing in {model.Meta.table_name} to corrupt"
    return found[0]


Undo = Callable[[], None]


def change(model: Any, item: dict[str, Any], **values: dict[str, Any] | None) -> Undo:
    """Set (or, with None, remove) attributes of a stored item; returns what puts it back."""
    changed = {**item, **{k: v for k, v in values.items() if v is not None}}
    for name, value in values.items():
        if value is None:
            changed.pop(name, None)
    _client().put_item(TableName=model.Meta.table_name, Item=changed)
    return lambda: _client().put_item(TableName=model.Meta.table_name, Item=item)


def delete(model: Any, item: dict[str, Any]) -> Undo:
    _client().delete_item(TableName=model.Meta.table_name, Key=_key_of(model, item))
    return lambda: _client().put_item(TableName=model.Meta.table_name, Item=item)


def add(model: Any, item: dict[str, Any]) -> Undo:
    _client().put_item(TableName=model.Meta.table_name, Item=item)
    return lambda: _client().delete_item(TableName=model.Meta.table_name, Key=_key_of(model, item))


def both(*undos: Undo) -> Undo:
    def undo_all() -> None:
        for undo in reversed(undos):
            undo()

    return undo_all


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def s(value: str) -> dict[str, str]:
    return {"S": value}


def entry_of(w: World, account: str, category: str | None = None) -> dict[str, Any]:
    return _one(
        LedgerEntryRecord,
        lambda i: i["account_id"]["S"] == account and (category is None or i["category"]["S"] == category),
    )


def last_entry(w: World, billing: str) -> dict[str, Any]:
    mine = _items(LedgerEntryRecord, lambda i: i["billing_account_id"]["S"] == billing)
    return max(mine, key=lambda i: int(i["seq"]["N"]))


def forge_entry(w: World, copy_of: dict[str, Any]) -> Undo:
    """A new last entry with a fabricated chain: its seq and balance follow the head, the head
    moves with it and a Logs page lists it. Only its seal cannot be made without the key."""
    billing = copy_of["billing_account_id"]["S"]
    last = last_entry(w, billing)
    seq = int(last["seq"]["N"]) + 1
    amount = int(copy_of["amount_micros"]["N"])
    balance = int(last["balance_after_micros"]["N"]) + amount
    event_id = new_id("forged")
    forged = {**copy_of, "event_id": s(event_id), "entry_id": s("le_" + "f" * 24), "seq": n(seq),
              "balance_after_micros": n(balance), "page_seq": n(seq), "seal": s("0" * 32)}  # fmt: skip
    head = _one(BalanceRecord, lambda i: i["billing_account_id"]["S"] == billing)
    page = _one(LedgerPageRecord, lambda i: i["billing_account_id"]["S"] == billing)
    rows = json.loads(page["rows"]["S"])
    forged_page = {
        **page,
        "row_key": s(page["row_key"]["S"].rsplit("#", 1)[0] + f"#{seq:012d}"),
        "first_seq": n(seq),
        "last_seq": n(seq),
        "rows": s(json.dumps([[event_id, *rows[0][1:7], balance, *rows[0][8:10], "0" * 32]])),
    }
    return both(
        add(LedgerEntryRecord, forged),
        change(BalanceRecord, head, seq=n(seq), balance_micros=n(balance), seal=s("0" * 32)),
        add(LedgerPageRecord, forged_page),
    )


def _page_of(w: World, account: str) -> dict[str, Any]:
    return _one(LedgerPageRecord, lambda i: i["account_id"]["S"] == account)


def _with_rows(page: dict[str, Any], edit: Callable[[list[Any]], None]) -> dict[str, Any]:
    rows = json.loads(page["rows"]["S"])
    edit(rows)
    return {"rows": s(json.dumps(rows))}


def _statement(w: World) -> dict[str, Any]:
    return _one(StatementRecord, lambda i: i["statement_id"]["S"] == w.statement)


def _restatement(w: World, **changes: int) -> dict[str, Any]:
    from chalicelib.adapters.statements_repo import decode_numbers, encode_numbers

    doc = decode_numbers(_statement(w)["numbers"]["B"])
    doc.update(changes)
    return {"numbers": {"B": encode_numbers(doc)}}


def head_of(account: str) -> dict[str, Any]:
    return _one(BalanceRecord, lambda i: i["billing_account_id"]["S"] == account)


def payment_of(w: World) -> dict[str, Any]:
    return _one(PaymentRecord, lambda i: i["payment_id"]["S"] == w.payment)


def credit_of(w: World) -> dict[str, Any]:
    return _one(LedgerEntryRecord, lambda i: i["event_id"]["S"] == f"payment:{w.payment}")


def rollup_of(account: str) -> dict[str, Any]:
    return _one(RollupRecord, lambda i: i["bucket_key"]["S"].endswith("#" + account))


def day_of(account: str) -> dict[str, Any]:
    return _one(BalanceDayRecord, lambda i: i["bucket_key"]["S"].endswith("#" + account))


def bump(item: dict[str, Any], name: str) -> dict[str, dict[str, str]]:
    return {name: n(int(item[name]["N"]) + 1)}


def stray_rollup(w: World) -> Undo:
    """A rollup of the standalone account kept under the agency."""
    copy = rollup_of(w.shared)
    return add(RollupRecord, {**copy, "bucket_key": s(copy["bucket_key"]["S"].replace(w.shared, w.alone))})


def ghost_row(rows: list[Any]) -> None:
    rows.append([new_id("ghost"), *rows[0][1:]])


def row_amount(rows: list[Any]) -> None:
    rows[0][6] = -123


def page_rows(page: dict[str, Any], edit: Callable[[list[Any]], None]) -> Undo:
    return change(LedgerPageRecord, page, **_with_rows(page, edit))


JAN_1 = s("2026-01-01T00:00:00.000000Z")

# Each kind: (name, the finding kind reconcile must report, how to corrupt the world).
CORRUPTIONS: list[tuple[str, str, Callable[[World], Undo]]] = [
    ("entry amount", "entry_seal",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.shared, "call_minutes"), amount_micros=n(-1))),
    ("entry balance after", "chain_balance",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.own, "call_minutes"), balance_after_micros=n(7))),
    ("entry description", "entry_seal",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.shared), description=s("Refund to me"))),
    ("entry unit price, amount kept", "entry_price",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.alone, "call_minutes"), unit_price_micros=n(1))),
    ("entry quantity", "entry_price",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.alone, "call_minutes"), quantity=s("40"))),
    ("entry category", "entry_seal",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.shared, "text_messages"), category=s("adjustment"))),
    ("entry metadata", "entry_seal",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.shared, "text_messages"), metadata={"M": {"to": s("+1")}})),
    ("entry occurred at", "entry_seal",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.own, "call_minutes"), occurred_at=JAN_1)),
    ("entry account", "entry_seal",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.shared, "call_minutes"), account_id=s(w.own))),
    ("entry posted at", "entry_seal",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.own, "recharge"), posted_at=JAN_1)),
    ("entry sequence", "chain_sequence",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.own, "call_minutes"), seq=n(99))),
    ("entry deleted", "listing_stray",
     lambda w: delete(LedgerEntryRecord, entry_of(w, w.shared, "text_messages"))),
    ("entry seal removed", "entry_unsealed",
     lambda w: change(LedgerEntryRecord, entry_of(w, w.alone, "call_minutes"), seal=None)),
    ("forged entry with a fabricated chain", "entry_seal",
     lambda w: forge_entry(w, entry_of(w, w.alone, "call_minutes"))),
    ("forged duplicate of an entry", "entry_seal",
     lambda w: forge_entry(w, entry_of(w, w.shared, "call_minutes"))),
    ("head balance", "head_balance", lambda w: change(BalanceRecord, head_of(w.alone), balance_micros=n(10**9))),
    ("head sequence", "head_seq", lambda w: change(BalanceRecord, head_of(w.agency), seq=n(1))),
    ("head deleted", "head_missing", lambda w: delete(BalanceRecord, head_of(w.own))),
    ("head seal", "head_seal", lambda w: change(BalanceRecord, head_of(w.alone), seal=s("1" * 32))),
    ("Logs row amount", "listing_differs", lambda w: page_rows(_page_of(w, w.shared), row_amount)),
    ("Logs page deleted", "listing_missing", lambda w: delete(LedgerPageRecord, _page_of(w, w.own))),
    ("Logs page dropped from the agency's Logs", "listing_agency",
     lambda w: change(LedgerPageRecord, _page_of(w, w.shared), agency_log_key=None)),
    ("stray Logs row", "listing_stray", lambda w: page_rows(_page_of(w, w.alone), ghost_row)),
    ("rollup counter", "rollup", lambda w: change(RollupRecord, r := rollup_of(w.shared), **bump(r, "cm_n"))),
    ("rollup deleted", "rollup", lambda w: delete(RollupRecord, rollup_of(w.own))),
    ("stray rollup under another scope", "rollup_stray", stray_rollup),
    ("posting day closing", "posting_day",
     lambda w: change(BalanceDayRecord, d := day_of(w.agency), **bump(d, "closing_micros"))),
    ("posting day deleted", "posting_day", lambda w: delete(BalanceDayRecord, day_of(w.alone))),
    ("payment amount", "payment_credit_amount",
     lambda w: change(PaymentRecord, payment_of(w), amount_micros=n(1_000_000))),
    ("payment deleted", "credit_without_payment", lambda w: delete(PaymentRecord, payment_of(w))),
    ("credited payment marked failed", "payment_credit_unpaid",
     lambda w: change(PaymentRecord, payment_of(w), status=s("failed"))),
    ("payment's credit deleted", "payment_uncredited",
     lambda w: delete(LedgerEntryRecord, credit_of(w))),
    ("statement closing shown in the list", "statement_columns",
     lambda w: change(StatementRecord, _statement(w), closing_balance_micros=n(1))),
    ("statement numbers", "statement_seal",
     lambda w: change(StatementRecord, _statement(w), **_restatement(w, closing_balance_micros=1))),
    ("statement seal removed", "statement_unsealed",
     lambda w: change(StatementRecord, _statement(w), numbers_seal=None)),
    ("account deleted under its ledger", "orphan",
     lambda w: delete(AccountRecord, _one(AccountRecord, lambda i: i["account_id"]["S"] == w.alone))),
]  # fmt: skip


def test_an_honest_ledger_reconciles(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert world.kinds() == set()
    reports = reconcile_all(world.accounts, recheck_after=0)
    alone = next(r for r in reports if r.billing_account_id == world.alone)
    assert alone.entries == 3 and alone.ok  # the opening credit, a call, the card payment's credit
    assert main() == 0
    assert "0 with drift" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "kind", "corrupt"), CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_every_kind_of_corruption_is_found_and_named(
    world: World, name: str, kind: str, corrupt: Callable[[World], Undo]
) -> None:
    undo = corrupt(world)
    try:
        found = world.kinds()
        assert kind in found, f"{name}: reconcile found {sorted(found)}, not {kind}"
    finally:
        undo()
    assert world.kinds() == set(), f"{name}: still drifting after the corruption was undone"


def test_there_are_thirty_kinds_at_least() -> None:
    assert len(CORRUPTIONS) >= 30 and len({c[0] for c in CORRUPTIONS}) == len(CORRUPTIONS)


def test_drift_fails_the_job(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    undo = change(
        BalanceRecord, _one(BalanceRecord, lambda i: i["billing_account_id"]["S"] == world.alone), balance_micros=n(1)
    )
    try:
        assert main() == 1
        assert "DRIFT" in capsys.readouterr().out
    finally:
        undo()
