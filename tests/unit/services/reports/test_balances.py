"""services/balances.py and services/attention.py on the fakes: the balance an account draws from,
who sees what of it, its runway, and the agency's accounts that need a person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.billing_repo import recharge_attributes
from chalicelib.domain.payments import BillingSettings, RechargeState
from chalicelib.services.attention import agency_attention
from chalicelib.services.balances import PAYER_DETAILS, balance_view, get_balance
from chalicelib.services.errors import NotFound
from tests.fakes.world import SERVICE, admin, viewer
from tests.unit.services.reports.conftest import World, recharge, usage

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)  # the fake clock


def days_ago(days: int, hour: int = 12) -> datetime:
    return NOW.replace(hour=hour) - timedelta(days=days)


def set_recharge(world: World, billing_account_id: str, state: RechargeState) -> None:
    """The head's recharge fields, as billing_repo writes them (after declines, say)."""
    record = world.tables.head_record(billing_account_id)
    assert record is not None
    world.tables.update_head(record, recharge_attributes(state))


def settings(world: World, billing_account_id: str, currency: str = "USD", **fields: object) -> None:
    world.billing.save_settings(billing_account_id, currency, BillingSettings(**fields), NOW, changed=True)  # type: ignore[arg-type]


@pytest.fixture
def solo(world: World) -> str:
    """An account on its own: 60.00 in, a number renewal 10 days ago and calls each of the last 30 days."""
    world.provision("solo", time_zone="UTC", emails=["billing@solo.example"])
    world.record(
        recharge("solo", days_ago(40), "60"),
        usage("solo", days_ago(10), "number_renewals", "1"),
        *(usage("solo", days_ago(d), "call_minutes", "8") for d in range(1, 31)),  # 0.10 a day
        usage("solo", days_ago(0, 11), "call_minutes", "8"),  # today: not part of the average
        usage("solo", days_ago(31), "call_minutes", "80"),  # 31 days ago: outside the window
    )
    return "solo"


def test_the_payer_sees_balance_status_runway_and_settings(world: World, solo: str) -> None:
    view = get_balance(viewer(solo), solo)
    # 60 - renewal 1.00 - 31 x 0.10 - 1.00
    assert (view["balance"], view["status"], view["balance_visible"]) == ("54.90", "ok", True)
    assert (view["billing_account_id"], view["billing_account_name"], view["currency"]) == ("solo", "solo", "USD")
    assert view["low_balance_threshold"] == "15.00"
    assert view["average_daily_spend"] == "0.133333"  # (30 x 0.10 + the renewal) / 30
    assert view["runway_days"] == "411.8"
    assert view["upcoming"]["count"] == 1 and view["upcoming"]["total"] == "1.00"
    assert view["upcoming"]["charges"] == [
        {"due_on": "2026-04-05", "category": "number_renewals", "count": 1, "amount": "1.00"}
    ]
    assert view["upcoming"]["by_category"] == [{"category": "number_renewals", "count": 1, "amount": "1.00"}]
    assert (view["upcoming"]["from"], view["upcoming"]["to"]) == ("2026-03-15", "2026-04-13")
    assert view["notices"] == [] and view["entries"] == 34
    assert view["auto_recharge"] == {
        "enabled": False,
        "threshold": "15.00",
        "amount": "25.00",
        "in_flight": False,
        "paused": False,
        "consecutive_declines": 0,
    }
    assert view["last_posted_at"] == "2026-03-15T12:00:00.000000Z"


def test_no_spend_means_no_runway(world: World) -> None:
    world.provision("idle")
    world.record(recharge("idle", days_ago(2), "5"))
    view = get_balance(SERVICE, "idle")
    assert (view["runway_days"], view["covered_until"], view["status"]) == (None, None, "low")
    assert view["average_daily_spend"] == "0.00"


def test_an_account_with_nothing_posted_has_a_zero_balance(world: World) -> None:
    world.provision("new")
    view = get_balance(SERVICE, "new")
    assert (view["balance"], view["entries"], view["last_posted_at"]) == ("0.00", 0, None)


def test_the_accounts_own_alert_threshold_says_when_it_is_low(world: World, solo: str) -> None:
    settings(world, solo, low_balance_alert_micros=60_000_000)
    view = get_balance(SERVICE, solo)
    assert (view["status"], view["low_balance_threshold"]) == ("low", "60.00")


def test_past_due_and_a_paused_recharge_are_notices(world: World, solo: str) -> None:
    world.record(usage(solo, days_ago(0, 10), "number_renewals", "60"))
    set_recharge(world, solo, RechargeState(consecutive_declines=3, paused=True))
    view = get_balance(SERVICE, solo)
    assert view["status"] == "past_due" and view["balance"] == "-5.10"
    assert [n["kind"] for n in view["notices"]] == ["past_due", "auto_recharge_paused"]
    assert view["auto_recharge"]["paused"] is True and view["auto_recharge"]["consecutive_declines"] == 3


@pytest.fixture
def agency(world: World) -> str:
    """An agency paying for itself and a shared client (in Kolkata), with an own-billing client."""
    world.provision("ag", kind="agency", time_zone="America/New_York")
    world.provision("shared", agency_id="ag", billing="agency", time_zone="Asia/Kolkata")
    world.provision("own", agency_id="ag", time_zone="Europe/London")
    world.record(
        recharge("ag", days_ago(35), "90"),
        *(usage("shared", days_ago(d), "number_renewals", "1") for d in range(1, 31)),
        usage("shared", days_ago(0, 11), "number_renewals", "1"),  # today in Kolkata: not averaged
        usage("ag", days_ago(31, 14), "number_renewals", "1"),  # 31 days ago in New York
        usage("own", days_ago(3), "number_renewals", "5"),  # its own balance
    )
    return "ag"


def test_a_shared_client_draws_from_its_agencys_balance_and_runway(world: World, agency: str) -> None:
    account = world.accounts.get("shared")
    assert account is not None
    view = balance_view(account)
    assert (view["balance"], view["billing_account_id"], view["billing_account_name"]) == ("58.00", "ag", "ag")
    assert view["average_daily_spend"] == "1.00"  # the agency's balance pays the client's 30 days
    assert view["runway_days"] == "58.0"
    own = get_balance(SERVICE, "own")
    assert (own["balance"], own["billing_account_id"], own["status"]) == ("-5.00", "own", "past_due")


def test_a_shared_clients_users_see_only_what_the_agency_shares(world: World, agency: str) -> None:
    hidden = get_balance(viewer("shared"), "shared")
    assert (hidden["balance_visible"], hidden["balance"], hidden["status"]) == (False, None, None)
    assert all(hidden[k] is None for k in PAYER_DETAILS)
    assert hidden["billing"] == "agency" and hidden["billing_account_name"] == "ag"
    settings(world, agency, share_balance_with_sub_accounts=True)
    shared = get_balance(viewer("shared"), "shared")
    assert (shared["balance_visible"], shared["balance"], shared["status"]) == (True, "58.00", "ok")
    assert all(shared[k] is None for k in PAYER_DETAILS)  # still not the runway, cards or notices
    assert get_balance(viewer("ag"), "shared")["runway_days"] == "58.0"  # the agency's users see all


def test_another_accounts_balance_is_not_found(world: World, agency: str) -> None:
    world.provision("stranger")
    with pytest.raises(NotFound):
        get_balance(viewer("stranger"), "ag")
    with pytest.raises(NotFound):
        get_balance(viewer("own"), "shared")


# -- attention ---------------------------------------------------------------------------------------------


def test_attention_lists_the_balances_that_need_a_person(world: World, agency: str) -> None:
    world.provision("declined", agency_id="ag", name="Declined Deli")
    world.provision("quiet", agency_id="ag")  # no head at all: nothing to say
    world.record(recharge("declined", days_ago(1), "5"))
    set_recharge(world, "declined", RechargeState(consecutive_declines=1))
    found = agency_attention(admin("ag"), agency)
    assert [(i["account_id"], [n["kind"] for n in i["notices"]]) for i in found["items"]] == [
        ("declined", ["card_declined"]),
        ("own", ["past_due"]),
    ]
    assert found["counts"] == {"card_declined": 1, "past_due": 1}
    assert found["accounts_checked"] == 4  # ag, declined, own, quiet: every balance of its own
    own = next(i for i in found["items"] if i["account_id"] == "own")
    assert (own["balance"], own["currency"], own["billing"], own["kind"]) == ("-5.00", "USD", "own", "account")


def test_an_agency_past_due_is_listed_first(world: World, agency: str) -> None:
    world.record(usage("shared", days_ago(0, 10), "number_renewals", "100"))
    set_recharge(world, agency, RechargeState(consecutive_declines=3, paused=True))
    found = agency_attention(viewer("ag"), agency)
    assert [i["account_id"] for i in found["items"]] == ["ag", "own"]
    assert [n["kind"] for n in found["items"][0]["notices"]] == ["past_due", "auto_recharge_paused"]


def test_attention_with_nothing_wrong_is_empty(world: World) -> None:
    world.provision("calm", kind="agency")
    world.record(recharge("calm", days_ago(1), "20"))
    assert agency_attention(viewer("calm"), "calm") == {
        "agency_id": "calm",
        "items": [],
        "counts": {},
        "accounts_checked": 1,
    }


def test_attention_is_the_agencys_own_users_only(world: World, agency: str) -> None:
    with pytest.raises(NotFound):
        agency_attention(viewer("own"), agency)
    with pytest.raises(NotFound):
        agency_attention(SERVICE, "own")
