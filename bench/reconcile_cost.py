"""`reconcile_cost`: what one run of the scheduled reconcile reads, at N and 10N entries.

Ten balances (an agency with shared and own-billing sub-accounts, and standalone accounts)
get N entries; the job runs once (its checkpoints catch up). Then D = 200 new entries are
posted and one run is counted (requests, items read), its incremental part alone (no
rolling slice) and with the rolling slice of ROLLING_SLICE balances. Then the ledger grows
to 10N entries, the job catches up again, the same D new entries are posted, and the
same runs are counted. The incremental run must read what was posted since (and the
heads), not the ledger: items read at 10N = at N. The rolling slice reads whole balances
by design (every balance in full once every balances/ROLLING_SLICE runs).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from .counting import RequestCounter

N = 2_000
NEW = 200


def _post(run: str, accounts: list[str], count: int, start: int) -> None:
    from chalicelib.services.usage import QueuedMessage, record_usage

    at = (datetime.now(UTC) - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    by_account: dict[str, list[dict[str, Any]]] = {}
    for i in range(start, start + count):
        account = accounts[i % len(accounts)]
        by_account.setdefault(account, []).append(
            {
                "event_id": f"{run}-e{i}",
                "account_id": account,
                "category": "call_minutes",
                "quantity": "2",
                "occurred_at": at,
            }
        )
    messages = [
        QueuedMessage(f"{run}-{a}-{j}", json.dumps({"events": events[j : j + 100]}), a)
        for a, events in by_account.items()
        for j in range(0, len(events), 100)
    ]
    for j in range(0, len(messages), 10):
        record_usage(messages[j : j + 10], dead_letter=lambda *_: None)


def _count(counter: RequestCounter, slice_size: int) -> dict[str, Any]:
    from chalicelib.services.reconcile_job import run_scheduled

    with counter.window() as tally:
        report = run_scheduled(slice_size=slice_size)
    return {
        "requests": tally.total_requests,
        "items_read": sum(tally.items_read.values()),
        "entries_checked": report.entries_checked,
        "drift": len(report.findings),
    }


def run(counter: RequestCounter) -> dict[str, Any]:
    from chalicelib.adapters.tables.base import all_models
    from chalicelib.domain.access import Principal, Role
    from chalicelib.services.accounts import put_account
    from chalicelib.services.reconcile_job import ROLLING_SLICE, run_scheduled

    service = Principal("bench", "platform", Role.SERVICE)
    put_account(service, "rc-agency", {"name": "Agency", "kind": "agency"})
    accounts = ["rc-agency"]
    for i in range(6):
        put_account(
            service,
            f"rc-sub{i}",
            {"name": f"Sub {i}", "agency_id": "rc-agency", "billing": "agency" if i % 2 else "own"},
        )
        accounts.append(f"rc-sub{i}")
    for i in range(3):
        put_account(service, f"rc-acct{i}", {"name": f"Account {i}"})
        accounts.append(f"rc-acct{i}")
    counter.attach_models(all_models())
    volumes: dict[str, Any] = {}
    posted = 0
    for label, total in (("N", N), ("10N", 10 * N)):
        _post("rc", accounts, total - posted, posted)
        posted = total
        run_scheduled(slice_size=0)  # catch up: checkpoints at the head of every balance
        _post("rc", accounts, NEW, posted)
        posted += NEW
        incremental = _count(counter, 0)
        _post("rc", accounts, NEW, posted)
        posted += NEW
        with_slice = _count(counter, ROLLING_SLICE)
        volumes[label] = {
            "entries": total,
            "new_entries": NEW,
            "incremental": incremental,
            "with_rolling_slice": with_slice,
        }
    n, ten = volumes["N"]["incremental"]["items_read"], volumes["10N"]["incremental"]["items_read"]
    return {
        "config": {"balances": 10, "new_entries_per_run": NEW, "rolling_slice": ROLLING_SLICE},
        "volumes": volumes,
        "incremental_items_read_ratio_10n_to_n": round(ten / n, 3) if n else None,
    }


def targets(bench: dict[str, Any]) -> dict[str, Any]:
    ratio = bench["incremental_items_read_ratio_10n_to_n"]
    drift = sum(v[k]["drift"] for v in bench["volumes"].values() for k in ("incremental", "with_rolling_slice"))
    return {
        "reconcile_run_cost_grows_with_new_entries_not_the_ledger": {
            "limit": "items read by a scheduled run after the same new entries: 10N ledger / N ledger <= 1.1",
            "value": ratio,
            "items_read": {k: v["incremental"]["items_read"] for k, v in bench["volumes"].items()},
            "met": ratio is not None and ratio <= 1.1,
        },
        "reconcile_runs_find_no_drift_on_an_honest_ledger": {"limit": "0", "value": drift, "met": drift == 0},
    }
