"""An account's Logs page (services/logs.py `account_logs`): rows, order, cursors, ranges, filters, access."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.cursor import derive_cursor_key, encode_cursor
from chalicelib.domain.money import format_micros
from chalicelib.services.errors import BadRequest, NotFound
from chalicelib.services.logs import LogPage, account_logs
from tests.fakes.world import SERVICE, viewer
from tests.unit.services.logs.conftest import World, credit, usage


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def walk(account_id: str, params: dict[str, str], limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every row of the Logs, page by page through the cursors; and how many pages it took."""
    rows: list[dict[str, Any]] = []
    pages, cursor = 0, None
    while True:
        page = account_logs(viewer(account_id), account_id, {**params, **({"cursor": cursor} if cursor else {})}, limit)
        pages += 1
        rows += page.rows
        cursor = page.next_cursor
        if cursor is None:
            return rows, pages
        assert pages < 100, "the cursors do not end"


def event_ids(page: LogPage | list[dict[str, Any]]) -> list[str]:
    rows = page.rows if isinstance(page, LogPage) else page
    return [r["event_id"] for r in rows]


@pytest.fixture
def busy(world: World) -> list[str]:
    """An account in Los Angeles with 9 entries in 4 transactions, one an hour; event ids oldest first."""
    world.provision("busy", name="Busy Bees", time_zone="America/Los_Angeles")
    batches = [
        [credit("busy", "50", event_id="rc")],
        [usage("busy", "call_minutes", str(i + 1), event_id=f"call-{i}") for i in range(3)],
        [usage("busy", "text_messages", "1", event_id=f"sms-{i}") for i in range(3)],
        [
            usage("busy", "number_renewals", "1", event_id="num"),
            usage("busy", "adjustment", amount="-0.50", description="Goodwill fix", event_id="adj"),
        ],
    ]
    for hour, batch in enumerate(batches):
        world.record(*batch, at=at(f"2026-03-15T1{hour}:00:00"))
    return [e["event_id"] for batch in batches for e in batch]


def test_rows_are_newest_first_and_say_what_was_charged(world: World, busy: list[str]) -> None:
    page = account_logs(viewer("busy"), "busy", {}, 50)
    # Newest transaction first, and inside one transaction the later entry (higher seq) first.
    assert event_ids(page) == list(reversed(busy))
    assert page.next_cursor is None
    assert page.time_zone == "America/Los_Angeles"
    call = next(r for r in page.rows if r["event_id"] == "call-1")
    assert call == {
        "id": call["id"],
        "account_id": "busy",
        "account_name": "Busy Bees",
        "billing_account_id": "busy",
        "billing_account_name": "Busy Bees",
        "category": "call_minutes",
        "description": call["description"],
        "metadata": {},
        "quantity": "2",
        "unit": "minute",
        "unit_price": "0.0125",
        "amount": "-0.025",
        "balance_after": "49.9625",  # 50 - 0.0125 - 0.025
        "currency": "USD",
        "occurred_at": "2026-03-01T09:00:00.000000Z",
        "posted_at": "2026-03-15T11:00:00.000000Z",
        "time_zone": "America/Los_Angeles",
        "occurred_at_local": "2026-03-01T01:00:00-08:00",  # before DST began on 8 March
        "posted_at_local": "2026-03-15T04:00:00-07:00",
        "event_id": "call-1",
    }
    recharge = next(r for r in page.rows if r["event_id"] == "rc")
    assert (recharge["amount"], recharge["unit_price"], recharge["balance_after"]) == ("50.00", None, "50.00")
    # The newest row ends where the balance is.
    assert page.rows[0]["balance_after"] == format_micros(world.ledger.balance("busy").balance_micros)


def test_an_account_without_entries_has_an_empty_page(world: World) -> None:
    world.provision("quiet", time_zone="Europe/Paris")
    page = account_logs(viewer("quiet"), "quiet", {}, 50)
    assert (page.rows, page.next_cursor, page.time_zone) == ([], None, "Europe/Paris")


def test_account_logs_are_only_that_accounts_rows(world: World, busy: list[str]) -> None:
    world.provision("other")
    world.record(usage("other", event_id="other-call"))
    assert event_ids(account_logs(viewer("other"), "other", {}, 50)) == ["other-call"]
    assert "other-call" not in event_ids(account_logs(viewer("busy"), "busy", {}, 50))


@pytest.mark.parametrize("limit", [1, 2, 4, 9])
def test_the_cursor_walks_every_row_once_newest_first(world: World, busy: list[str], limit: int) -> None:
    rows, pages = walk("busy", {}, limit)
    assert event_ids(rows) == list(reversed(busy))
    assert pages == -(-len(busy) // limit)  # no empty page at the end
    first = account_logs(viewer("busy"), "busy", {}, limit)
    assert len(first.rows) == limit
    assert (first.next_cursor is None) == (limit >= len(busy))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.lists(st.sampled_from(["call_minutes", "text_messages", "number_renewals"]), min_size=1, max_size=4),
        min_size=0,
        max_size=5,
    ),
    limit=st.integers(1, 6),
    category=st.sampled_from([None, "call_minutes", "text_messages"]),
    q=st.sampled_from([None, "tagged", "TAG"]),
)
def test_paging_any_filter_returns_the_filtered_log_once(
    batches: list[list[str]], limit: int, category: str | None, q: str | None
) -> None:
    """Invariant: walking the cursors gives the rows the filter keeps, each once, newest first."""
    with World().bound() as world:
        world.provision("acct", time_zone="Asia/Kolkata")
        written: list[tuple[str, str, bool]] = []  # (event id, category, tagged), oldest first
        for hour, categories in enumerate(batches):
            events = []
            for i, c in enumerate(categories):
                tagged = (hour + i) % 2 == 0
                events.append(usage("acct", c, event_id=f"e{hour}-{i}", metadata={"ref": "Tagged"} if tagged else {}))
                written.append((f"e{hour}-{i}", c, tagged))
            world.record(*events, at=at(f"2026-03-15T{hour:02d}:00:00"))
        params = {k: v for k, v in {"category": category, "q": q}.items() if v is not None}
        rows, _ = walk("acct", params, limit)
        want = [e for e, c, tagged in reversed(written) if (category in (None, c)) and (q is None or tagged)]
        assert event_ids(rows) == want


# -- cursors -------------------------------------------------------------------------------------
def test_a_cursor_continues_only_its_own_list(world: World, busy: list[str]) -> None:
    world.provision("other")
    world.record(usage("other"), usage("other"))
    cursor = account_logs(viewer("busy"), "busy", {}, 2).next_cursor
    assert cursor is not None
    # Another account's Logs, or the same Logs with another filter or range: refused, saying why.
    foreign = [
        ("other", {}),
        ("busy", {"category": "call_minutes"}),
        ("busy", {"q": "fix"}),
        ("busy", {"from": "2026-03-15"}),
    ]
    for account_id, params in foreign:
        with pytest.raises(BadRequest, match="cursor belongs to another query"):
            account_logs(viewer(account_id), account_id, {**params, "cursor": cursor}, 2)
    # A blank search is no search: the cursor carries on.
    assert len(account_logs(viewer("busy"), "busy", {"q": "   ", "cursor": cursor}, 2).rows) == 2


@pytest.mark.parametrize("garbled", ["not-a-cursor", "AAAA", "!!!", "eyJxIjoiIn0"])
def test_a_garbled_cursor_is_refused(world: World, busy: list[str], garbled: str) -> None:
    with pytest.raises(BadRequest, match="cursor is not valid"):
        account_logs(viewer("busy"), "busy", {"cursor": garbled}, 2)


def test_a_cursor_signed_with_another_key_or_edited_is_refused(world: World, busy: list[str]) -> None:
    cursor = account_logs(viewer("busy"), "busy", {}, 2).next_cursor
    assert cursor is not None
    edited = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    with pytest.raises(BadRequest, match="cursor is not valid"):
        account_logs(viewer("busy"), "busy", {"cursor": edited}, 2)
    world.secrets.jwt = "another-secret-entirely-0123456789"
    with pytest.raises(BadRequest, match="cursor is not valid"):
        account_logs(viewer("busy"), "busy", {"cursor": cursor}, 2)


def test_a_signed_cursor_that_is_no_position_of_this_list_is_refused(world: World, busy: list[str]) -> None:
    """A cursor of this query signed by the service, whose position is not a row key (another list's shape)."""
    query = {"from": None, "to": None, "category": None, "tz": "America/Los_Angeles"}
    key = derive_cursor_key(world.secrets.jwt)
    for position in ({"offset": 2}, {"before": 7}):
        cursor = encode_cursor(key, "account:busy", query, position)
        with pytest.raises(BadRequest, match="cursor: not a cursor of this list"):
            account_logs(viewer("busy"), "busy", {"cursor": cursor}, 2)
    # The same shape with a row key is one (the test above builds what the service builds).
    good = account_logs(viewer("busy"), "busy", {}, 2).next_cursor
    assert good is not None
    assert len(account_logs(viewer("busy"), "busy", {"cursor": good}, 2).rows) == 2


# -- ranges --------------------------------------------------------------------------------------
def test_from_and_to_are_local_dates_of_the_account(world: World) -> None:
    world.provision("la", time_zone="America/Los_Angeles")  # UTC-7 in March 2026
    posted = {
        "late-14th": "2026-03-15T06:59:59",  # 23:59:59 on the 14th in Los Angeles
        "early-15th": "2026-03-15T07:00:00",  # local midnight
        "late-15th": "2026-03-16T06:59:00",
        "early-16th": "2026-03-16T07:00:00",
    }
    for event_id, instant in posted.items():
        world.record(usage("la", event_id=event_id), at=at(instant))

    def ids(**params: str) -> list[str]:
        return event_ids(account_logs(viewer("la"), "la", params, 50))

    assert ids(**{"from": "2026-03-15", "to": "2026-03-15"}) == ["late-15th", "early-15th"]
    assert ids(**{"from": "2026-03-16"}) == ["early-16th"]
    assert ids(to="2026-03-14") == ["late-14th"]
    assert ids(**{"from": "2026-03-14", "to": "2026-03-16"}) == list(reversed(posted))
    assert ids(**{"from": "2026-03-17"}) == []


def test_a_local_day_across_the_dst_change_has_23_hours(world: World) -> None:
    world.provision("ny", time_zone="America/New_York")  # clocks went forward on 8 March 2026
    posted = {
        "7th-last": "2026-03-08T04:59:59",  # 23:59:59 EST on the 7th
        "8th-first": "2026-03-08T05:00:00",  # 00:00 EST on the 8th
        "8th-last": "2026-03-09T03:59:59",  # 23:59:59 EDT on the 8th
        "9th-first": "2026-03-09T04:00:00",  # 00:00 EDT on the 9th
    }
    for event_id, instant in posted.items():
        world.record(usage("ny", event_id=event_id), at=at(instant))
    page = account_logs(viewer("ny"), "ny", {"from": "2026-03-08", "to": "2026-03-08"}, 50)
    assert event_ids(page) == ["8th-last", "8th-first"]
    assert [r["posted_at_local"] for r in page.rows] == ["2026-03-08T23:59:59-04:00", "2026-03-08T00:00:00-05:00"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-03-16", "to": "2026-03-15"}, "to must not be before from"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "at most 5 years"),
        ({"from": "15/03/2026"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"category": "gold_bars"}, "category must be one of call_minutes"),
        ({"q": "x" * 101}, "q: at most 100 characters"),
        ({"q": "tab\there"}, "q: "),
    ],
)
def test_a_bad_query_is_refused_saying_which_parameter(
    world: World, busy: list[str], params: dict[str, str], message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        account_logs(viewer("busy"), "busy", params, 50)


# -- filters -------------------------------------------------------------------------------------
def test_the_category_filter_keeps_only_that_category(world: World, busy: list[str]) -> None:
    assert event_ids(account_logs(viewer("busy"), "busy", {"category": "text_messages"}, 50)) == [
        "sms-2",
        "sms-1",
        "sms-0",
    ]
    rows, pages = walk("busy", {"category": "call_minutes"}, 2)
    assert (event_ids(rows), pages) == (["call-2", "call-1", "call-0"], 2)
    assert account_logs(viewer("busy"), "busy", {"category": ""}, 50).rows  # empty: no filter


@pytest.fixture
def described(world: World) -> None:
    world.provision("plumber", time_zone="America/New_York")
    world.record(credit("plumber", event_id="rc"), at=at("2026-03-15T09:00:00"))
    world.record(
        usage(
            "plumber",
            event_id="call",
            description="Inbound call to the Plumbing line",
            metadata={"call_id": "CA-8812", "caller": "(555) 010-2222", "duration_s": 195},
        ),
        at=at("2026-03-15T10:00:00"),
    )
    world.record(
        usage(
            "plumber",
            "text_messages",
            "1",
            event_id="sms",
            description="Text message",
            metadata={"to": "(555) 010-4444", "delivered": True},
        ),
        at=at("2026-03-15T11:00:00"),
    )


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("ca-8812", ["call"]),  # a metadata value, whatever its case
        ("PLUMBING", ["call"]),  # the description
        ("010-", ["sms", "call"]),  # several rows, newest first
        ("195", ["call"]),  # a number sent as a number
        ("true", ["sms"]),  # a flag, as JSON spells it
        ("  (555) 010-4444 ", ["sms"]),  # spaces around the text are ignored
        ("caller", []),  # keys are not searched
        ("plumber", []),  # nor account ids
    ],
)
def test_q_searches_descriptions_and_metadata_values(world: World, described: None, q: str, found: list[str]) -> None:
    assert event_ids(account_logs(viewer("plumber"), "plumber", {"q": q}, 50)) == found


def test_q_and_category_together_and_a_cursor_bound_to_the_search(world: World, described: None) -> None:
    both = account_logs(viewer("plumber"), "plumber", {"q": "010-", "category": "call_minutes"}, 50)
    assert event_ids(both) == ["call"]
    first = account_logs(viewer("plumber"), "plumber", {"q": "010-"}, 1)
    assert event_ids(first) == ["sms"] and first.next_cursor is not None
    rest = account_logs(viewer("plumber"), "plumber", {"q": "010-", "cursor": first.next_cursor}, 1)
    assert (event_ids(rest), rest.next_cursor) == (["call"], None)
    with pytest.raises(BadRequest, match="another query"):
        account_logs(viewer("plumber"), "plumber", {"q": "plumbing", "cursor": first.next_cursor}, 1)


def test_a_rare_match_reads_a_bounded_stretch_and_searches_on(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A filtered page stops after SCAN_ROWS examined rows with what it found and a cursor to search on."""
    import tests.fakes.ledger

    monkeypatch.setattr(tests.fakes.ledger, "SCAN_ROWS", 4)
    world.provision("rare")
    for hour in range(6):  # six transactions of three texts; the needle in the first and the fourth
        events = [usage("rare", "text_messages", "1", event_id=f"t{hour}-{i}") for i in range(3)]
        if hour in (0, 3):
            events[1]["metadata"] = {"call_id": f"needle-{hour}"}
        world.record(*events, at=at(f"2026-03-15T0{hour}:00:00"))
    first = account_logs(viewer("rare"), "rare", {"q": "NEEDLE"}, 5)
    assert first.rows == [] and first.next_cursor is not None  # two pages examined, nothing yet
    rows, pages = walk("rare", {"q": "NEEDLE"}, 5)
    assert event_ids(rows) == ["t3-1", "t0-1"]
    assert pages == 3
    assert len(account_logs(viewer("rare"), "rare", {}, 50).rows) == 18  # without a filter, nothing cut short


# -- access --------------------------------------------------------------------------------------
def test_only_those_who_reach_the_account_read_its_logs(world: World, busy: list[str]) -> None:
    world.provision("stranger")
    with pytest.raises(NotFound):
        account_logs(viewer("stranger"), "busy", {}, 50)
    with pytest.raises(NotFound):
        account_logs(viewer("busy"), "nobody", {}, 50)
    with pytest.raises(NotFound):
        account_logs(SERVICE, "nobody", {}, 50)
    with pytest.raises(BadRequest, match="account id"):
        account_logs(viewer("busy"), "bad id!", {}, 50)
    # The platform reads every account's Logs, with the balances.
    assert event_ids(account_logs(SERVICE, "busy", {}, 50)) == list(reversed(busy))
