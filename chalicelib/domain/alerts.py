"""Usage alerts: what they watch, the periods they count, and when one fires.

An alert watches a value of a local calendar period (day, week from Monday, month,
year) of an account: the count, quantity or cost of one usage category, or of all
usage ("total"). Its scope says whose value: one account's (`account`), the sum over
an agency and every sub-account (`agency`), or each sub-account of an agency on its
own (`each_account`, one definition for a thousand clients).

The value of a period is what the usage rollups say (domain/rollups.py: every usage
entry counted by the local date it occurred in the account's zone, so a DST day is
simply a local date, and a late event counts in the period it happened). An alert
fires when a ledger transaction moves the value from below its threshold to at or
above it: once per (alert, subject, period), since usage only ever adds. Fired
periods are keyed by the alert's revision too, so an alert whose definition changes
starts afresh.

Everything here is plain Python: the writer (services/alert_check.py) supplies the
values it read and the deltas of the transaction it is about to commit.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from .categories import USAGE_CATEGORIES, Category
from .money import MICROS_PER_UNIT, MoneyError, format_micros, format_quantity_micros, to_decimal
from .reports import month_end
from .rollups import DAY, MONTH, RollupKey, RollupTotals, day_bucket, month_bucket

MAX_ALERTS_PER_OWNER = 50
MAX_RECIPIENTS = 10
MAX_NAME_LENGTH = 100
TOTAL = "total"  # the category of an alert on all usage
# Thresholds: at most ten billion units of money or quantity, a trillion entries.
MAX_THRESHOLD_MICROS = 10_000_000_000 * MICROS_PER_UNIT
MAX_THRESHOLD_COUNT = 10**12


class AlertScope(StrEnum):
    ACCOUNT = "account"  # one account's own usage
    AGENCY = "agency"  # the agency's total: the agency and every sub-account
    EACH_ACCOUNT = "each_account"  # every sub-account of the agency, each on its own


class Measure(StrEnum):
    COUNT = "count"  # entries (calls, texts, renewals ...)
    QUANTITY = "quantity"  # minutes, messages ... in the category's unit
    COST = "cost"  # what the usage cost, in the balance's currency


class AlertPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"  # Monday to Sunday, as the Usage report's weeks
    MONTH = "month"
    YEAR = "year"


class AlertError(ValueError):
    """A definition that breaks a rule; the message names the field."""


@dataclass(frozen=True)
class Watch:
    """What the ledger writer needs to know of an alert (kept on the owner's account item)."""

    alert_id: str
    revision: int
    scope: AlertScope
    category: Category | None  # None: all usage
    measure: Measure
    period: AlertPeriod
    threshold: int  # entries, or micro-units of money or quantity
    enabled: bool = True

    def to_row(self) -> list[object]:
        return [
            self.alert_id,
            self.revision,
            self.scope.value,
            self.category.value if self.category else TOTAL,
            self.measure.value,
            self.period.value,
            self.threshold,
            1 if self.enabled else 0,
        ]

    @classmethod
    def from_row(cls, row: list[object]) -> Watch:
        alert_id, revision, scope, category, measure, period, threshold, enabled = row
        return cls(
            alert_id=str(alert_id),
            revision=int(str(revision)),
            scope=AlertScope(str(scope)),
            category=None if category == TOTAL else Category(str(category)),
            measure=Measure(str(measure)),
            period=AlertPeriod(str(period)),
            threshold=int(str(threshold)),
            enabled=bool(enabled),
        )


def encode_watches(watches: Iterable[Watch]) -> str:
    """Compact JSON: the writer reads it with every batch, so every byte is read often."""
    return json.dumps([w.to_row() for w in watches], separators=(",", ":"))


def decode_watches(text: str | None) -> tuple[Watch, ...]:
    if not text:
        return ()
    return tuple(Watch.from_row(row) for row in json.loads(text))


# -- definitions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageAlert:
    """A stored alert: whose it is, what it watches, who is told."""

    owner_id: str
    alert_id: str
    scope: AlertScope
    name: str
    category: Category | None
    measure: Measure
    period: AlertPeriod
    threshold: int
    recipients: tuple[str, ...]
    webhook_url: str | None
    enabled: bool
    revision: int
    created_at: datetime
    updated_at: datetime

    @property
    def watch(self) -> Watch:
        return Watch(
            self.alert_id, self.revision, self.scope, self.category, self.measure, self.period, self.threshold,
            self.enabled,
        )  # fmt: skip

    def watches_the_same(self, other: UsageAlert) -> bool:
        """Whether a change keeps what is counted and compared (then firings of this revision still stand)."""
        return (self.scope, self.category, self.measure, self.period, self.threshold) == (
            other.scope,
            other.category,
            other.measure,
            other.period,
            other.threshold,
        )


ACCOUNT_ALERT_PREFIX = "ua_"  # an account's own usage
AGENCY_ALERT_PREFIX = "ug_"  # an agency's total, or each of its sub-accounts


def new_alert_id(scope: AlertScope) -> str:
    prefix = ACCOUNT_ALERT_PREFIX if scope is AlertScope.ACCOUNT else AGENCY_ALERT_PREFIX
    return prefix + secrets.token_hex(10)


@dataclass(frozen=True)
class AlertSpec:
    """A validated definition as a person gave it (the API's body)."""

    name: str
    scope: AlertScope
    category: Category | None
    measure: Measure
    period: AlertPeriod
    threshold: int
    recipients: tuple[str, ...]
    webhook_url: str | None
    enabled: bool = True


def parse_category(value: object) -> Category | None:
    if value == TOTAL:
        return None
    try:
        category = Category(str(value))
    except ValueError:
        category = None
    if category is None or category not in USAGE_CATEGORIES:
        names = ", ".join(sorted(c.value for c in USAGE_CATEGORIES))
        raise AlertError(f"category: must be one of {names} or {TOTAL}, got {value!r}")
    return category


def parse_measure(value: object) -> Measure:
    if isinstance(value, str) and value in Measure.__members__.values():
        return Measure(value)
    raise AlertError(f"measure: must be one of {'|'.join(m.value for m in Measure)}, got {value!r}")


def parse_period(value: object) -> AlertPeriod:
    if isinstance(value, str) and value in AlertPeriod.__members__.values():
        return AlertPeriod(value)
    raise AlertError(f"period: must be one of {'|'.join(p.value for p in AlertPeriod)}, got {value!r}")


def parse_threshold(value: object, measure: Measure) -> int:
    """The threshold as stored: entries, or micro-units; it must be above zero."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise AlertError('threshold: must be a decimal string such as "100" or "25.50"')
    try:
        number = to_decimal(value, field="threshold")
    except MoneyError as exc:
        raise AlertError(str(exc)) from None
    if number <= 0:
        raise AlertError("threshold: must be greater than zero")
    if measure is Measure.COUNT:
        if number != number.to_integral_value():
            raise AlertError("threshold: a count is a whole number")
        if number > MAX_THRESHOLD_COUNT:
            raise AlertError(f"threshold: at most {MAX_THRESHOLD_COUNT}")
        return int(number)
    micros = int(number * MICROS_PER_UNIT)
    if micros > MAX_THRESHOLD_MICROS:
        raise AlertError(f"threshold: at most {format_micros(MAX_THRESHOLD_MICROS)}")
    return micros


def format_threshold(value: int, measure: Measure) -> str:
    """As the API writes a threshold or a value: a count as an integer, money and quantities as decimals."""
    if measure is Measure.COUNT:
        return str(value)
    if measure is Measure.COST:
        return format_micros(value)
    return format_quantity_micros(value)


def check_combination(category: Category | None, measure: Measure) -> None:
    if category is None and measure is Measure.QUANTITY:
        raise AlertError(
            "measure: quantity needs one category (minutes and messages do not add up); use count or cost for total"
        )


# -- periods --------------------------------------------------------------------------------------

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True, order=True)
class Window:
    """One period of the local calendar: [start, end] local dates."""

    kind: AlertPeriod
    start: date
    end: date  # inclusive

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.start.isoformat()}"

    @property
    def label(self) -> str:
        """In words: "Nov 26, 2026", "the week of Nov 23, 2026", "November 2026", "2026"."""
        day = f"{_MONTHS[self.start.month - 1][:3]} {self.start.day}, {self.start.year}"
        if self.kind is AlertPeriod.DAY:
            return day
        if self.kind is AlertPeriod.WEEK:
            return f"the week of {day}"
        if self.kind is AlertPeriod.MONTH:
            return f"{_MONTHS[self.start.month - 1]} {self.start.year}"
        return str(self.start.year)

    def buckets(self) -> list[tuple[str, str]]:
        """The rollup buckets (period, bucket) whose sum is this window's value."""
        if self.kind is AlertPeriod.DAY:
            return [(DAY, day_bucket(self.start))]
        if self.kind is AlertPeriod.WEEK:
            return [(DAY, day_bucket(self.start + timedelta(days=i))) for i in range(7)]
        if self.kind is AlertPeriod.MONTH:
            return [(MONTH, month_bucket(self.start))]
        return [(MONTH, f"{self.start.year:04d}-{m:02d}") for m in range(1, 13)]


def window_of(kind: AlertPeriod, day: date) -> Window:
    """The period of `kind` that the local date `day` is in."""
    if kind is AlertPeriod.DAY:
        return Window(kind, day, day)
    if kind is AlertPeriod.WEEK:
        monday = day - timedelta(days=day.weekday())
        return Window(kind, monday, monday + timedelta(days=6))
    if kind is AlertPeriod.MONTH:
        return Window(kind, day.replace(day=1), month_end(day))
    return Window(kind, date(day.year, 1, 1), date(day.year, 12, 31))


def windows_of_key(kind: AlertPeriod, key: RollupKey) -> Window | None:
    """The window of `kind` a rollup counter belongs to (None: this counter does not make up that kind)."""
    if key.period == DAY and kind in (AlertPeriod.DAY, AlertPeriod.WEEK):
        return window_of(kind, date.fromisoformat(key.bucket))
    if key.period == MONTH and kind in (AlertPeriod.MONTH, AlertPeriod.YEAR):
        return window_of(kind, date.fromisoformat(key.bucket + "-01"))
    return None


# -- values -----------------------------------------------------------------------------------------

Counters = Mapping[Category, RollupTotals]


def value_of(totals: Counters, category: Category | None, measure: Measure) -> int:
    """What an alert compares with its threshold, from one account-period's counters by category."""
    categories = USAGE_CATEGORIES if category is None else {category}
    value = 0
    for name in categories:
        t = totals.get(name)
        if t is None:
            continue
        if measure is Measure.COUNT:
            value += t.count
        elif measure is Measure.QUANTITY:
            value += t.quantity_micros
        else:
            value -= t.amount_micros  # the ledger stores charges negative
    return value


@dataclass
class PeriodCounters:
    """Usage counters of accounts by (account, window), summed from rollup counters.

    Built from what was read and kept up to date with what the writer commits, so the
    value before a transaction is known without reading again.
    """

    by_window: dict[tuple[str, Window], dict[Category, RollupTotals]] = field(default_factory=dict)

    def add(self, key: RollupKey, totals: RollupTotals, kinds: Iterable[AlertPeriod]) -> None:
        for kind in kinds:
            window = windows_of_key(kind, key)
            if window is None:
                continue
            slot = self.by_window.setdefault((key.account_id, window), {})
            slot.setdefault(key.category, RollupTotals()).add(totals)

    def add_all(self, rollups: Mapping[RollupKey, RollupTotals], kinds: Iterable[AlertPeriod]) -> None:
        kinds = tuple(kinds)
        for key, totals in rollups.items():
            self.add(key, totals, kinds)

    def value(self, account_ids: Iterable[str], window: Window, category: Category | None, measure: Measure) -> int:
        return sum(value_of(self.by_window.get((a, window), {}), category, measure) for a in account_ids)


# -- firing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """Whose value a watch compares: the accounts summed, and who it is named after."""

    subject_id: str  # the account (account, each_account) or the agency (agency total)
    account_ids: frozenset[str]


@dataclass(frozen=True)
class Firing:
    """An alert's value reached its threshold in a period."""

    owner_id: str
    watch: Watch
    subject_id: str
    window: Window
    value: int

    @property
    def firing_id(self) -> str:
        """Unique within the alert; sorts by revision, then period, then subject."""
        return firing_id(self.watch.revision, self.subject_id, self.window)

    @property
    def event_id(self) -> str:
        """The webhook event id: the same on every delivery and retry."""
        key = f"usage_alert\x00{self.watch.alert_id}\x00{self.firing_id}"
        return "evt_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def firing_id(revision: int, subject_id: str, window: Window) -> str:
    return f"r{revision:06d}#{window.start.isoformat()}#{subject_id}"


def crossed(before: int, after: int, threshold: int) -> bool:
    """Reached in this step: below before it, at or above after it."""
    return before < threshold <= after


def window_range(windows: Iterable[Window]) -> tuple[date, date] | None:
    """The local dates every window covers, first to last (None: no window)."""
    spans = [(w.start, w.end) for w in windows]
    if not spans:
        return None
    return min(s for s, _ in spans), max(e for _, e in spans)


# (one, many) of what is counted, and of the quantity's unit.
CATEGORY_WORDS = {
    Category.CALL_MINUTES: (("call", "calls"), ("minute", "minutes")),
    Category.TEXT_MESSAGES: (("text message", "text messages"), ("message", "messages")),
    Category.NUMBER_RENEWALS: (("number renewal", "number renewals"), ("number", "numbers")),
    Category.SUBSCRIPTION_FEES: (("subscription fee", "subscription fees"), ("subscription", "subscriptions")),
}


def with_unit(text: str, measure: Measure, category: Category | None, currency: str) -> str:
    """A formatted value or threshold with what it counts: "120.50 USD", "1250 minutes", "1 call"."""
    if measure is Measure.COST:
        return f"{text} {currency}"
    one, many = (
        ("usage entry", "usage entries")
        if category is None
        else CATEGORY_WORDS[category][0 if measure is Measure.COUNT else 1]
    )
    return f"{text} {one if text == '1' else many}"


def watch_in_words(category: Category | None, measure: Measure, period: AlertPeriod) -> str:
    """What an alert watches: "cost of all usage per month", "count of calls per day"."""
    what = "all usage" if category is None else CATEGORY_WORDS[category][0][1]
    if measure is Measure.QUANTITY and category is not None:
        return f"{category.value.replace('_', ' ')} per {period.value}"
    return f"{measure.value} of {what} per {period.value}"
