"""Handing billing tasks (recharges, alerts) that a ledger write set off to the worker."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..domain.auto_recharge import BillingTask
from .stores import stores


def dispatch(tasks: Sequence[BillingTask]) -> None:
    """Best effort: a recharge whose task is lost stays flagged on the balance head and
    is put on the queue again by a later write (see domain.auto_recharge.needs_redrive)."""
    if not tasks:
        return

    try:
        stores().queues.send_billing_tasks([json.dumps(t.to_json()) for t in tasks])
    except Exception:
        from ..observability import get_logger

        get_logger().exception("billing tasks not sent", extra={"tasks": [t.to_json() for t in tasks]})
