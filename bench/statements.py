"""`statements`: what one account-month statement costs to build, at N and 10N entries, and to render.

Build: one account (America/New_York) with a recharge before the month and N (then
10N, in a second account) usage entries inside the month, spread over every day and
the four usage categories, plus a card payment per week. Counted (hooks on every
botocore DynamoDB client): one `build_numbers` call for that month. The items read
must not depend on the number of entries: daily rollups (one item per day), the
payments of the month, the posting days since the month began and the balance head.

Render: a statement document with 1,000 table rows (card charges, and usage rows
of an agency's sub-accounts) rendered to HTML (+ CSS inlined, as emailed) and to
PDF, best of a few runs, compared with `import boto3` timed in a fresh interpreter
in the same run (median of a few).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .counting import RequestCounter

if TYPE_CHECKING:
    from chalicelib.domain.statement import Statement

N = 1_000
ZONE = "America/New_York"
CATEGORIES = ("call_minutes", "text_messages", "number_renewals", "subscription_fees")
RENDER_ROWS = 1_000
RUNS = 3


def _month(now: datetime) -> tuple[date, date]:
    local = now.astimezone(ZoneInfo(ZONE)).date().replace(day=1)
    last = local - timedelta(days=1)
    return last.replace(day=1), last


def _write(account_id: str, entries: int, first: date, last: date) -> dict[str, Any]:
    import json
    import uuid

    from chalicelib.adapters.payments_repo import PaymentRepository
    from chalicelib.domain.payments import Payment, PaymentKind, PaymentStatus
    from chalicelib.services.usage import QueuedMessage, record_usage

    zone = ZoneInfo(ZONE)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    days = (last - first).days + 1
    problems: list[str] = []

    def dead(_m: object, reason: str, _raw: str) -> None:
        problems.append(reason)

    before = start - timedelta(days=2)
    opening = {
        "event_id": f"{account_id}-opening",
        "account_id": account_id,
        "category": "recharge",
        "amount": "100000.00",
        "occurred_at": before.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    record_usage([QueuedMessage("m0", json.dumps(opening), account_id)], dead_letter=dead, clock=lambda: before)
    step = timedelta(days=days) / entries
    batch: list[dict[str, Any]] = []
    posted = start
    started = time.perf_counter()
    for i in range(entries):
        occurred = start + step * i
        batch.append(
            {
                "event_id": f"{account_id}-{i}",
                "account_id": account_id,
                "category": CATEGORIES[i % len(CATEGORIES)],
                "quantity": "1",
                "occurred_at": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        # Post at least once every day (as a live account does), so both volumes have a posting
        # day for every day of the month: boundaries read days, never entries.
        next_day = (start + step * (i + 1)).astimezone(ZoneInfo(ZONE)).date()
        if len(batch) == 100 or i == entries - 1 or next_day != occurred.astimezone(ZoneInfo(ZONE)).date():
            posted = occurred + timedelta(seconds=1)
            message = QueuedMessage(uuid.uuid4().hex, json.dumps({"events": batch}), account_id)
            record_usage([message], dead_letter=dead, clock=lambda p=posted: p)  # type: ignore[misc]
            batch = []
    payments = PaymentRepository()
    for week in range(4):
        created = start + timedelta(days=7 * week + 1)
        p = payments.create_pending(
            Payment(
                f"pay_b{uuid.uuid4().hex[:18]}", account_id, account_id, PaymentKind.AUTO_RECHARGE, 25_000_000,
                "USD", PaymentStatus.PENDING, "visa", "4242", created, "simulated",
            )
        )  # fmt: skip
        payments.finish(p.payment_id, PaymentStatus.SUCCEEDED, created, gateway_reference="ch_bench")
    return {"entries": entries, "write_s": round(time.perf_counter() - started, 1), "problems": problems[:5]}


def _count_build(counter: RequestCounter, account_id: str, first: date, last: date) -> dict[str, Any]:
    from chalicelib.adapters.accounts_repo import AccountRepository
    from chalicelib.adapters.tables.base import all_models
    from chalicelib.services.statements import build_numbers

    account = AccountRepository().get(account_id)
    assert account is not None
    counter.attach_models(all_models())
    started = time.perf_counter()
    with counter.window() as tally:
        statement = build_numbers(account, first, last, statement_id="st_" + "b" * 24, now=datetime.now(UTC))
    elapsed = time.perf_counter() - started
    counted = tally.as_dict()
    return {
        "items_read": counted["items_read"],
        "items_read_by_table": counted["items_read_by_table"],
        "requests": counted["requests"],
        "requests_by_operation": counted["requests_by_operation"],
        "wall_time_ms": round(elapsed * 1000, 1),
        "usage_count": sum(r.count for r in statement.usage),
        "closing_balance_micros": statement.closing_balance_micros,
        "entries_posted": statement.chain.entries_posted,
    }


def _render_doc(rows: int) -> Statement:
    """An agency statement with `rows` table rows: card charges and sub-account usage rows."""
    from chalicelib.domain.categories import Category
    from chalicelib.domain.periods import local_range
    from chalicelib.domain.rollups import RollupTotals
    from chalicelib.domain.statements import (
        AccountActivity,
        Boundary,
        CardCharge,
        Head,
        Owner,
        StatementInputs,
        build_statement,
    )

    period = local_range("2026-10-01", "2026-10-31", ZONE)
    assert period.start is not None and period.end is not None
    subs = rows // 8
    charges = rows - subs * 4
    usage = {c: RollupTotals(10, 10_000_000, -125_000) for c in Category if c.is_usage}
    activity = [
        AccountActivity(
            f"sub_{i:04d}", f"Sub-account {i} & Co", "shared", ZONE, usage, {date(2026, 10, 1 + i % 31): 500_000}
        )
        for i in range(subs)
    ]
    credit = charges * 25_000_000
    cost = subs * 4 * 125_000
    opening, closing = 1_000_000_000, 1_000_000_000 + credit - cost
    activity[0] = AccountActivity(
        "sub_0000", "Sub-account 0", "shared", ZONE, {**usage, Category.RECHARGE: RollupTotals(charges, 0, credit)}
    )
    inputs = StatementInputs(
        statement_id="st_" + "c" * 24,
        owner=Owner("agency_bench", "Bench Agency", "agency", "own", "agency_bench", ZONE, "USD"),
        first=date(2026, 10, 1),
        last=date(2026, 10, 31),
        start=period.start,
        end=period.end,
        closing_at=period.end,
        built_at=datetime(2026, 11, 1, 11, tzinfo=UTC),
        opening=Boundary(date(2026, 10, 1), opening, 1),
        closing=Boundary(date(2026, 11, 1), closing, 3),
        head=Head(3, closing),
        activity=activity,
        card_charges=[
            CardCharge(f"pay_{i:05d}", period.start + timedelta(minutes=40 * i), "auto_recharge", "succeeded",
                       25_000_000, "visa", "4242")
            for i in range(charges)
        ],
    )  # fmt: skip
    return build_statement(inputs)


def _import_boto3_ms(python: str) -> float:
    code = "import time; t=time.perf_counter(); import boto3; print((time.perf_counter()-t)*1000)"
    samples = []
    for _ in range(5):
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, timeout=60)
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


def _render(rows: int) -> dict[str, Any]:
    import hashlib

    from chalicelib.rendering import inline_css
    from chalicelib.statement_render import render_html, render_pdf

    doc = _render_doc(rows)
    table_rows = len(doc.card_charges) + sum(len(a.usage) for a in doc.accounts)
    timings: dict[str, list[float]] = {"html": [], "pdf": []}
    digests = set()
    for _ in range(RUNS):
        t0 = time.perf_counter()
        inline_css(render_html(doc))
        t1 = time.perf_counter()
        pdf = render_pdf(doc)
        t2 = time.perf_counter()
        timings["html"].append((t1 - t0) * 1000)
        timings["pdf"].append((t2 - t1) * 1000)
        digests.add(hashlib.sha256(pdf).hexdigest())
    html_ms, pdf_ms = min(timings["html"]), min(timings["pdf"])
    boto3_ms = _import_boto3_ms(sys.executable)
    return {
        "table_rows": table_rows,
        "html_ms": round(html_ms, 1),
        "pdf_ms": round(pdf_ms, 1),
        "pdf_bytes": len(pdf),
        "pdf_reproducible": len(digests) == 1,
        "import_boto3_ms": round(boto3_ms, 1),
        "ratio_to_import_boto3": round((html_ms + pdf_ms) / boto3_ms, 2),
        "method": f"best of {RUNS} renders (HTML with CSS inlined, then PDF) in this process; import boto3: "
        "median of 5 fresh interpreters",
    }


def run(counter: RequestCounter, n: int = N) -> dict[str, Any]:
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.accounts import put_account

    first, last = _month(datetime.now(UTC))
    volumes: dict[str, Any] = {}
    for label, entries in (("N", n), ("10N", 10 * n)):
        account_id = f"bench_stmt_{label.lower()}"
        put_account(Principal("bench", "platform", Role.SERVICE), account_id, {"name": account_id, "time_zone": ZONE})
        written = _write(account_id, entries, first, last)
        volumes[label] = {**written, "build": _count_build(counter, account_id, first, last)}
    ratio = volumes["10N"]["build"]["items_read"] / max(volumes["N"]["build"]["items_read"], 1)
    return {
        "month": {"from": first.isoformat(), "to": last.isoformat(), "time_zone": ZONE},
        "volumes": volumes,
        "items_read_ratio_10n_to_n": round(ratio, 3),
        "render": _render(RENDER_ROWS),
    }
