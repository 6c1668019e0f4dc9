"""services/statements/request.py and read.py on the fakes: a statement on request, and the stored copies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.services.errors import BadRequest, Forbidden, NotFound, Unavailable
from chalicelib.services.rate_limits import RateLimited
from chalicelib.services.statements import (
    NotReady,
    SharedBillingStatement,
    StatementRefused,
    get_statement,
    list_statements,
    parse_recipients,
    request_statement,
    statement_html,
    statement_pdf,
)
from tests.fakes.world import admin, viewer
from tests.unit.services.statements.conftest import World

MARCH_5 = datetime(2026, 3, 5, 10, tzinfo=UTC)
BODY = {"from": "2026-03-01", "to": "2026-03-14", "recipients": ["a@x.io"]}


def funded(world: World, account_id: str = "acme") -> None:
    world.provision(account_id)
    world.record_at(
        MARCH_5,
        world.event(account_id, "recharge", amount="50", occurred_at=MARCH_5),
        world.event(account_id, occurred_at=MARCH_5),
    )


def test_a_requested_statement_is_built_stored_and_queued(world: World) -> None:
    funded(world)
    answer = request_statement(admin("acme"), "acme", {**BODY, "recipients": ["a@x.io", " A@X.io", "b@x.io"]})
    assert answer["status"] == "queued"
    sid = answer["statement_id"]
    assert world.queues.statements == [{"type": "send", "statement_id": sid}]
    stored = world.statements.get(sid)
    assert stored is not None
    assert (stored.status, stored.origin, stored.requested_by) == ("queued", "on_demand", "admin@acme")
    assert stored.recipients == ("a@x.io", "b@x.io")
    assert (stored.period_first, stored.period_last) == ("2026-03-01", "2026-03-14")
    assert stored.closing_balance_micros == world.balance("acme") and stored.opening_balance_micros == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x", "body must be"),
        ({**BODY, "cc": []}, "unknown fields: cc"),
        ({"from": "2026-03-01", "to": "2026-03-14"}, "recipients is required"),
        ({**BODY, "from": 20260301}, "from and to must be dates"),
        ({**BODY, "from": "2026-02-30"}, "from must be a date YYYY-MM-DD"),
        ({**BODY, "from": "2026-03-10", "to": "2026-03-01"}, "to must not be before from"),
        ({**BODY, "from": "2025-01-01", "to": "2026-03-01"}, "at most 366 days"),
        ({**BODY, "to": "2026-03-16"}, r"to must not be after today \(2026-03-15 in Europe/Berlin\)"),
        ({**BODY, "recipients": "a@x.io"}, "recipients must be a list"),
        ({**BODY, "recipients": ["not-an-address"]}, "not a valid email address"),
        ({**BODY, "recipients": [f"u{i}@x.io" for i in range(11)]}, "recipients must hold 1 to 10"),
    ],
)
def test_a_bad_request_is_refused_and_nothing_is_built(world: World, body: object, message: str) -> None:
    funded(world)
    with pytest.raises(BadRequest, match=message):
        request_statement(admin("acme"), "acme", body)
    assert world.statements.items == {} and world.queues.statements == []


def test_parse_recipients_may_allow_none() -> None:
    assert parse_recipients([], allow_empty=True) == []
    with pytest.raises(BadRequest):
        parse_recipients([])


def test_who_may_request_a_statement(world: World) -> None:
    funded(world)
    world.provision("agency", kind="agency")
    world.provision("client", agency_id="agency", billing="agency")
    with pytest.raises(Forbidden):
        request_statement(viewer("acme"), "acme", BODY)
    with pytest.raises(NotFound):
        request_statement(admin("agency"), "acme", BODY)
    with pytest.raises(SharedBillingStatement):
        request_statement(admin("client"), "client", BODY)
    assert world.statements.items == {}


def test_a_ledger_that_does_not_link_up_refuses_the_statement(world: World) -> None:
    funded(world)
    head = world.ledger.tables.head_record("acme")
    assert head is not None
    world.ledger.tables.update_head(head, {"balance_micros": int(head.balance_micros) - 1})
    with pytest.raises(StatementRefused, match="does not reconcile"):
        request_statement(admin("acme"), "acme", BODY)
    assert world.statements.items == {} and world.queues.statements == []


def test_requests_are_limited_per_account(world: World) -> None:
    funded(world)
    for _ in range(20):
        request_statement(admin("acme"), "acme", BODY)
    with pytest.raises(RateLimited):
        request_statement(admin("acme"), "acme", BODY)
    assert len(world.statements.items) == 20


def test_a_statement_that_cannot_be_queued_is_kept_and_reported(world: World) -> None:
    funded(world)

    def broken(messages: object) -> None:
        raise ConnectionError("sqs unreachable")

    world.queues.send_statements = broken  # type: ignore[method-assign]
    with pytest.raises(Unavailable, match="built but could not be queued"):
        request_statement(admin("acme"), "acme", BODY)
    (stored,) = world.statements.items.values()
    assert stored.status == "queued"


# -- reading -------------------------------------------------------------------------------------


def test_list_statements_newest_first_with_a_cursor(world: World) -> None:
    funded(world)
    made = []
    for _ in range(3):
        made.append(request_statement(admin("acme"), "acme", BODY)["statement_id"])
        world.clock.advance(minutes=1)
    first = list_statements(viewer("acme"), "acme", {}, 2)
    assert (first["account_id"], first["billing"], first["billing_account_id"]) == ("acme", "own", "acme")
    assert [i["id"] for i in first["items"]] == made[::-1][:2] and first["next_cursor"]
    rest = list_statements(viewer("acme"), "acme", {"cursor": first["next_cursor"]}, 2)
    assert [i["id"] for i in rest["items"]] == made[:1] and rest["next_cursor"] is None
    row = first["items"][0]
    assert row["status"] == "queued" and row["currency"] == "USD" and row["error"] is None
    assert row["opening_balance"] == "0.00" and row["closing_balance_display"] == "49.96"
    with pytest.raises(BadRequest):
        list_statements(viewer("acme"), "acme", {"cursor": "garbage"}, 2)


def test_a_shared_billing_account_lists_no_statements_of_its_own(world: World) -> None:
    world.provision("agency", kind="agency", name="Big Agency")
    world.provision("client", agency_id="agency", billing="agency")
    view = list_statements(viewer("client"), "client", {}, 10)
    assert view["items"] == [] and view["next_cursor"] is None
    assert view["paid_by"] == {"account_id": "agency", "name": "Big Agency"}


def test_get_statement_speaks_decimal_strings(world: World) -> None:
    funded(world)
    sid = request_statement(admin("acme"), "acme", BODY)["statement_id"]
    view = get_statement(viewer("acme"), "acme", sid)
    assert view["id"] == sid and view["status"] == "queued" and view["pdf_sha256"] is None
    doc = view["statement"]
    assert doc["opening_balance"] == "0.00" and doc["opening_balance_display"] == "0.00"
    assert doc["closing_balance"] == "49.9625" and doc["closing_balance_display"] == "49.96"
    (usage,) = doc["usage"]
    assert usage["quantity"] == "3" and usage["amount"] == "0.0375" and "amount_micros" not in usage
    assert json.loads(json.dumps(doc)) == doc


def test_another_accounts_statement_is_not_found(world: World) -> None:
    funded(world)
    funded(world, "rival")
    sid = request_statement(admin("acme"), "acme", BODY)["statement_id"]
    for read in (get_statement, statement_html, statement_pdf):
        with pytest.raises(NotFound):
            read(viewer("rival"), "rival", sid)
        with pytest.raises(NotFound):
            read(viewer("acme"), "acme", "st_../../etc")
        with pytest.raises(NotFound):
            read(viewer("acme"), "acme", "st_" + "0" * 24)


def test_html_and_pdf_are_rendered_from_the_stored_numbers(world: World) -> None:
    funded(world)
    sid = request_statement(admin("acme"), "acme", BODY)["statement_id"]
    html = statement_html(viewer("acme"), "acme", sid)
    assert "49.96" in html and "Call minutes" in html
    pdf, filename = statement_pdf(viewer("acme"), "acme", sid)
    assert pdf.startswith(b"%PDF") and filename.endswith(".pdf") and "2026-03-01" in filename


def test_a_statement_still_being_built_has_no_html_yet(world: World) -> None:
    world.provision("acme")
    sid = "st_" + "a" * 24
    claim = world.statements.claim(
        sid, token="t", now=world.clock.now, lease=timedelta(minutes=5),
        new={"account_id": "acme", "origin": "scheduled", "frequency": "daily", "period_first": "2026-03-14",
             "period_last": "2026-03-14", "recipients": ["a@x.io"]},
    )  # fmt: skip
    assert claim is not None
    assert get_statement(viewer("acme"), "acme", sid)["statement"] is None
    with pytest.raises(NotReady):
        statement_html(viewer("acme"), "acme", sid)


def test_a_stored_copy_that_does_not_add_up_is_never_shown(world: World) -> None:
    funded(world)
    sid = request_statement(admin("acme"), "acme", BODY)["statement_id"]
    stored = world.statements.items[sid].numbers
    assert stored is not None
    stored["total_debits_micros"] += 1
    with pytest.raises(StatementRefused):
        statement_html(viewer("acme"), "acme", sid)
    with pytest.raises(StatementRefused):
        statement_pdf(viewer("acme"), "acme", sid)
