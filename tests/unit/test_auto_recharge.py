"""The auto-recharge and low-balance alert rules (domain/auto_recharge.py), without AWS."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.auto_recharge import (
    DECLINE_COOLDOWN,
    MAX_CONSECUTIVE_DECLINES,
    RECHARGE_REDRIVE_AFTER,
    BillingTask,
    TaskKind,
    after_decline,
    after_success,
    can_auto_recharge,
    low_alert_change,
    needs_redrive,
    payment_id_for_recharge,
    reactions,
    recharge_id_for,
    wants_recharge,
)
from chalicelib.domain.payments import BillingHead, BillingSettings, CardOnFile, RechargeState

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DOLLAR = 1_000_000
VISA = CardOnFile("pm_visa", "visa", "4242")
AMEX = CardOnFile("pm_amex", "amex", "0005")
ACCOUNT = "acct_1"


def head(
    *,
    enabled: bool = True,
    threshold: int = 15 * DOLLAR,
    primary: CardOnFile | None = VISA,
    backup: CardOnFile | None = None,
    alert: int | None = None,
    state: RechargeState | None = None,
) -> BillingHead:
    settings = BillingSettings(
        auto_recharge_enabled=enabled,
        threshold_micros=threshold,
        primary_card=primary,
        backup_card=backup,
        low_balance_alert_micros=alert,
    )
    return BillingHead(settings=settings, recharge=state or RechargeState())


# --- when a recharge may be requested -------------------------------------------------


def test_an_enabled_balance_with_a_card_and_nothing_in_flight_may_recharge():
    assert can_auto_recharge(head(), NOW)


@pytest.mark.parametrize(
    ("billing", "why"),
    [
        (head(enabled=False), "disabled"),
        (head(primary=None), "no card"),
        (head(state=RechargeState(paused=True)), "paused"),
        (head(state=RechargeState(in_flight_id="rc_x", requested_at=NOW)), "one in flight already"),
        (head(state=RechargeState(cooldown_until=NOW + timedelta(seconds=1))), "cooling down"),
    ],
)
def test_no_recharge_when(billing, why):
    assert not can_auto_recharge(billing, NOW), why
    assert not wants_recharge(0, billing, NOW), why


def test_a_backup_card_alone_is_a_card_to_charge():
    assert can_auto_recharge(head(primary=None, backup=AMEX), NOW)


def test_the_cool_down_ends_at_its_instant():
    billing = head(state=RechargeState(cooldown_until=NOW))
    assert can_auto_recharge(billing, NOW)
    assert not can_auto_recharge(billing, NOW - timedelta(microseconds=1))


def test_a_recharge_is_wanted_strictly_below_the_threshold():
    billing = head(threshold=15 * DOLLAR)
    assert wants_recharge(15 * DOLLAR - 1, billing, NOW)
    assert not wants_recharge(15 * DOLLAR, billing, NOW)
    assert not wants_recharge(20 * DOLLAR, billing, NOW)
    assert wants_recharge(-5 * DOLLAR, billing, NOW)


def test_a_zero_threshold_recharges_only_a_negative_balance():
    billing = head(threshold=0)
    assert not wants_recharge(0, billing, NOW)
    assert wants_recharge(-1, billing, NOW)


# --- ids ------------------------------------------------------------------------------


def test_one_recharge_id_per_balance_and_entry():
    rid = recharge_id_for(ACCOUNT, 7)
    assert rid.startswith("rc_")
    assert rid == recharge_id_for(ACCOUNT, 7)
    assert rid != recharge_id_for(ACCOUNT, 8)
    assert rid != recharge_id_for("acct_2", 7)


def test_the_primary_card_then_the_backup_card_each_have_their_payment_id():
    rid = recharge_id_for(ACCOUNT, 7)
    primary, backup = payment_id_for_recharge(rid, 0), payment_id_for_recharge(rid, 1)
    assert primary == "pay_" + rid.removeprefix("rc_")
    assert backup == primary + "_1"
    # The worker charges the cards in this order: primary first, then the backup.
    assert head(backup=AMEX).settings.cards == (VISA, AMEX)
    assert head(primary=None, backup=AMEX).settings.cards == (AMEX,)
    assert head(primary=None).settings.cards == ()


# --- what a payment's outcome does to the recharge state -------------------------------


def test_a_success_clears_the_recharge_and_the_declines():
    state = RechargeState(
        in_flight_id="rc_x", requested_at=NOW, consecutive_declines=2, cooldown_until=NOW, low_alert_sent=True
    )
    assert after_success(state) == RechargeState(low_alert_sent=True)


def test_a_decline_cools_down_and_the_third_in_a_row_pauses():
    state = RechargeState(in_flight_id="rc_x", requested_at=NOW)
    for declines in range(1, MAX_CONSECUTIVE_DECLINES + 1):
        state = after_decline(state, NOW)
        assert state.in_flight_id is None and state.requested_at is None
        assert state.consecutive_declines == declines
        assert state.cooldown_until == NOW + DECLINE_COOLDOWN
        assert state.paused is (declines == MAX_CONSECUTIVE_DECLINES)
    assert MAX_CONSECUTIVE_DECLINES == 3


def test_a_success_between_declines_starts_the_count_again():
    state = after_decline(after_decline(RechargeState(), NOW), NOW)
    state = after_decline(after_success(state), NOW)
    assert state.consecutive_declines == 1 and not state.paused


def test_after_three_declines_no_recharge_even_once_the_cool_down_is_over():
    state = RechargeState()
    for _ in range(MAX_CONSECUTIVE_DECLINES - 1):
        state = after_decline(state, NOW)
    later = NOW + DECLINE_COOLDOWN
    assert not wants_recharge(0, head(state=state), NOW)  # cooling down
    assert wants_recharge(0, head(state=state), later)  # two declines: it tries again
    paused = after_decline(state, NOW)
    assert not wants_recharge(0, head(state=paused), later + timedelta(days=30))


# --- a lost task is put on the queue again ---------------------------------------------


def test_a_recharge_in_flight_is_redriven_after_a_while():
    state = RechargeState(in_flight_id="rc_x", requested_at=NOW)
    assert not needs_redrive(state, NOW + RECHARGE_REDRIVE_AFTER - timedelta(seconds=1))
    assert needs_redrive(state, NOW + RECHARGE_REDRIVE_AFTER)
    assert not needs_redrive(RechargeState(), NOW + timedelta(days=1))
    assert not needs_redrive(RechargeState(in_flight_id="rc_x"), NOW + timedelta(days=1))


# --- the low-balance alert --------------------------------------------------------------


@pytest.mark.parametrize(
    ("alert", "sent", "balance", "change"),
    [
        (None, False, 0, None),  # no alert set
        (10 * DOLLAR, False, 10 * DOLLAR - 1, True),  # went below: send one
        (10 * DOLLAR, True, 5 * DOLLAR, None),  # still below: sent already
        (10 * DOLLAR, True, 10 * DOLLAR, False),  # back at or above: re-arm
        (10 * DOLLAR, False, 50 * DOLLAR, None),  # above and armed
    ],
)
def test_low_alert_change(alert, sent, balance, change):
    assert low_alert_change(balance, head(alert=alert, state=RechargeState(low_alert_sent=sent))) is change


# --- what a ledger transaction sets off -------------------------------------------------


def test_going_below_the_threshold_requests_one_recharge():
    state, tasks = reactions(ACCOUNT, head(), 14 * DOLLAR, 7, NOW)
    rid = recharge_id_for(ACCOUNT, 7)
    assert state == RechargeState(in_flight_id=rid, requested_at=NOW)
    assert tasks == [BillingTask(TaskKind.RECHARGE, ACCOUNT, rid, 14 * DOLLAR)]


def test_above_the_threshold_nothing_happens():
    billing = head()
    assert reactions(ACCOUNT, billing, 15 * DOLLAR, 7, NOW) == (billing.recharge, [])


@pytest.mark.parametrize(
    "billing",
    [
        head(enabled=False),
        head(primary=None),
        head(state=RechargeState(paused=True, consecutive_declines=3)),
        head(state=RechargeState(cooldown_until=NOW + timedelta(hours=1))),
    ],
)
def test_below_the_threshold_without_a_possible_recharge_nothing_happens(billing):
    assert reactions(ACCOUNT, billing, 0, 7, NOW) == (billing.recharge, [])


def test_a_recharge_in_flight_is_not_requested_twice():
    billing = head(state=RechargeState(in_flight_id="rc_x", requested_at=NOW))
    assert reactions(ACCOUNT, billing, 0, 8, NOW + timedelta(minutes=1)) == (billing.recharge, [])


def test_a_stale_recharge_in_flight_is_sent_again_with_its_own_id():
    billing = head(state=RechargeState(in_flight_id="rc_x", requested_at=NOW))
    later = NOW + RECHARGE_REDRIVE_AFTER
    state, tasks = reactions(ACCOUNT, billing, 3 * DOLLAR, 8, later)
    assert state == RechargeState(in_flight_id="rc_x", requested_at=later)
    assert tasks == [BillingTask(TaskKind.RECHARGE, ACCOUNT, "rc_x", 3 * DOLLAR)]


def test_crossing_the_alert_and_the_threshold_at_once_sets_off_both():
    state, tasks = reactions(ACCOUNT, head(alert=20 * DOLLAR), 14 * DOLLAR, 9, NOW)
    rid = recharge_id_for(ACCOUNT, 9)
    assert state == RechargeState(in_flight_id=rid, requested_at=NOW, low_alert_sent=True)
    assert tasks == [
        BillingTask(TaskKind.RECHARGE, ACCOUNT, rid, 14 * DOLLAR),
        BillingTask(TaskKind.LOW_BALANCE_ALERT, ACCOUNT, "9", 14 * DOLLAR),
    ]


def test_the_alert_is_sent_even_when_auto_recharge_is_off():
    state, tasks = reactions(ACCOUNT, head(enabled=False, alert=5 * DOLLAR), DOLLAR, 3, NOW)
    assert state == RechargeState(low_alert_sent=True)
    assert tasks == [BillingTask(TaskKind.LOW_BALANCE_ALERT, ACCOUNT, "3", DOLLAR)]


def test_back_above_the_alert_re_arms_it_without_a_task():
    billing = head(alert=5 * DOLLAR, state=RechargeState(low_alert_sent=True))
    assert reactions(ACCOUNT, billing, 50 * DOLLAR, 4, NOW) == (RechargeState(low_alert_sent=False), [])


states = st.builds(
    RechargeState,
    in_flight_id=st.none() | st.just("rc_in_flight"),
    requested_at=st.none() | st.just(NOW - timedelta(minutes=30)) | st.just(NOW),
    consecutive_declines=st.integers(0, 3),
    cooldown_until=st.none() | st.just(NOW - timedelta(hours=1)) | st.just(NOW + timedelta(hours=1)),
    paused=st.booleans(),
    low_alert_sent=st.booleans(),
    past_due_sent=st.booleans(),
)


@given(
    state=states,
    enabled=st.booleans(),
    has_card=st.booleans(),
    alert=st.none() | st.integers(0, 100 * DOLLAR),
    balance=st.integers(-100 * DOLLAR, 100 * DOLLAR),
)
def test_reactions_request_at_most_one_recharge_and_record_it_in_flight(state, enabled, has_card, alert, balance):
    billing = head(enabled=enabled, primary=VISA if has_card else None, alert=alert, state=state)
    after, tasks = reactions(ACCOUNT, billing, balance, 11, NOW)
    recharges = [t for t in tasks if t.kind is TaskKind.RECHARGE]
    alerts = [t for t in tasks if t.kind is TaskKind.LOW_BALANCE_ALERT]
    past_due = [t for t in tasks if t.kind is TaskKind.PAST_DUE]
    assert len(recharges) <= 1 and len(alerts) <= 1 and len(past_due) <= 1
    if recharges:
        assert after.in_flight_id == recharges[0].key and after.requested_at == NOW
        assert state.in_flight_id in (None, recharges[0].key)
    else:
        assert (after.in_flight_id, after.requested_at) == (state.in_flight_id, state.requested_at)

    # Only the in-flight recharge and the two alert flags move; declines, cool-down and pause never do.
    def unmoved(s: RechargeState) -> RechargeState:
        return replace(s, in_flight_id=None, requested_at=None, low_alert_sent=False, past_due_sent=False)

    assert unmoved(after) == unmoved(state)
    # Below zero is told once per crossing, and then instead of the low-balance alert.
    crossed_zero = balance < 0 and not state.past_due_sent
    assert bool(past_due) is crossed_zero and after.past_due_sent is (balance < 0)
    crossed_alert = alert is not None and balance < alert and not state.low_alert_sent
    assert bool(alerts) is (crossed_alert and not crossed_zero)


@given(
    kind=st.sampled_from(TaskKind),
    key=st.text(min_size=1, max_size=30),
    balance=st.integers(-(10**15), 10**15),
)
def test_a_billing_task_survives_the_queue(kind, key, balance):
    task = BillingTask(kind, ACCOUNT, key, balance)
    assert BillingTask.from_json(task.to_json()) == task
