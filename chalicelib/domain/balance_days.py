"""A balance's history by posting day: how statements find a balance at any local midnight.

Every ledger transaction adds one `BalanceDay` movement to its billing account's
posting day (the local date of the transaction's posting time, in the billing
account's zone): the entries it posted, their net amount, and the first and last
sequence numbers with the balance before and after. Stored per (billing account,
day), days chain: a day opens where the previous one closed, and its last `seq` is
followed by the next day's first.

The balance just before a local midnight is then the balance head minus the net of
every day from that date on: the days *after* a boundary are read, never the entries
before it, so a boundary costs one point read per day since it, however busy the
account was. `boundary_before` also checks that what it read links up (each day
against its neighbours and the last one against the head) and refuses a chain that
does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from .ledger import Plan


@dataclass(frozen=True)
class BalanceDay:
    """One posting day of a billing account (or the part of it one transaction wrote)."""

    billing_account_id: str
    day: date
    entries: int
    net_micros: int
    first_seq: int
    opening_micros: int  # the balance before the first entry posted that day
    last_seq: int
    closing_micros: int  # the balance after the last entry posted that day


def movement_of(plan: Plan, zone: ZoneInfo) -> BalanceDay | None:
    """What a plan adds to its posting day (all of a plan's entries share one posting time)."""
    if not plan.entries:
        return None
    first, last = plan.entries[0], plan.entries[-1]
    return BalanceDay(
        billing_account_id=plan.after.billing_account_id,
        day=first.posted_at.astimezone(zone).date(),
        entries=len(plan.entries),
        net_micros=sum(e.amount_micros for e in plan.entries),
        first_seq=first.seq,
        opening_micros=plan.before.balance_micros,
        last_seq=last.seq,
        closing_micros=last.balance_after_micros,
    )


class ChainDoesNotLink(ValueError):
    """The stored days do not add up where they were read."""


@dataclass(frozen=True)
class Boundary:
    """The balance just before a local day begins: after entry `seq` (0 before any entry)."""

    day: date
    balance_micros: int
    seq: int


def boundary_before(day: date, head_seq: int, head_balance_micros: int, days_from: Sequence[BalanceDay]) -> Boundary:
    """The balance before local `day`, from the head and the posting days on or after it.

    `days_from` are every stored day >= `day`, in date order, read with the head in one
    consistent view. Raises ChainDoesNotLink when they disagree with each other or the head.
    """
    days = sorted(days_from, key=lambda d: d.day)
    if any(d.day < day for d in days):
        raise ValueError("days_from must not hold days before the boundary")
    balance = head_balance_micros - sum(d.net_micros for d in days)
    seq = head_seq - sum(d.entries for d in days)
    expected_seq, expected_balance = seq, balance
    for d in days:
        if d.first_seq != expected_seq + 1:
            raise ChainDoesNotLink(f"{d.day}: opens at seq {d.first_seq}, expected {expected_seq + 1}")
        if d.opening_micros != expected_balance:
            raise ChainDoesNotLink(f"{d.day}: opens at {d.opening_micros}, expected {expected_balance}")
        if d.last_seq - d.first_seq + 1 != d.entries or d.closing_micros - d.opening_micros != d.net_micros:
            raise ChainDoesNotLink(f"{d.day}: its counts do not add up")
        expected_seq, expected_balance = d.last_seq, d.closing_micros
    if seq < 0:
        raise ChainDoesNotLink(f"the head (seq {head_seq}) is behind its days")
    return Boundary(day, balance, seq)


def merge_days(parts: Sequence[BalanceDay]) -> BalanceDay:
    """Several movements of one (billing account, day), in sequence order, as one day."""
    ordered = sorted(parts, key=lambda d: d.first_seq)
    first, last = ordered[0], ordered[-1]
    return BalanceDay(
        billing_account_id=first.billing_account_id,
        day=first.day,
        entries=sum(d.entries for d in ordered),
        net_micros=sum(d.net_micros for d in ordered),
        first_seq=first.first_seq,
        opening_micros=first.opening_micros,
        last_seq=last.last_seq,
        closing_micros=last.closing_micros,
    )
