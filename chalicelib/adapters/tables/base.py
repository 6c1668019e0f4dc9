"""Binding models to their tables at first use.

Models are declared with placeholder table names; `bind()` fills in the stage's
names the first time a repository touches DynamoDB, so importing a model never
reads the environment. Endpoints are botocore's business: it honours
AWS_ENDPOINT_URL_DYNAMODB, which is how the local stack reaches DynamoDB Local.
"""

from __future__ import annotations

import threading
from typing import Any

from ...config import get_settings
from ..concurrency import MAX_WORKERS

_lock = threading.Lock()
_bound = False


def all_models() -> list[Any]:
    from .accounts import AccountRecord
    from .alert_guards import AlertGuardRecord
    from .balance_days import BalanceDayRecord
    from .balances import BalanceRecord
    from .idempotency import IdempotencyRecord
    from .ledger import LedgerEntryRecord
    from .ledger_pages import LedgerPageRecord
    from .notices import NoticeRecord
    from .payments import PaymentRecord
    from .rate_limits import RateLimitRecord
    from .reconcile_checkpoints import ReconcileCheckpointRecord
    from .rollups import RollupRecord
    from .statement_schedules import StatementScheduleRecord
    from .statements import StatementRecord
    from .usage_alerts import UsageAlertRecord
    from .webhook_endpoints import WebhookEndpointRecord

    return [
        AccountRecord,
        BalanceRecord,
        LedgerEntryRecord,
        LedgerPageRecord,
        RollupRecord,
        BalanceDayRecord,
        PaymentRecord,
        IdempotencyRecord,
        StatementRecord,
        StatementScheduleRecord,
        RateLimitRecord,
        UsageAlertRecord,
        NoticeRecord,
        AlertGuardRecord,
        WebhookEndpointRecord,
        ReconcileCheckpointRecord,
    ]


def bind(force: bool = False) -> None:
    """Point every model at the stage's table (idempotent, thread-safe)."""
    global _bound
    if _bound and not force:
        return
    with _lock:
        if _bound and not force:
            return
        settings = get_settings()
        for model in all_models():
            model.Meta.table_name = settings.table_name(model.TABLE_BASE)
            model.Meta.region = settings.region
            # Agency pages read a table from up to 16 threads at once (adapters/concurrency.py).
            model.Meta.max_pool_connections = MAX_WORKERS + 4
            model._connection = None
        _share_one_connection(all_models())
        _bound = True


def _share_one_connection(models: list[Any]) -> None:
    """Every model on one PynamoDB Connection, whose botocore client is made here, once.

    PynamoDB gives each model a Connection of its own, which makes its client on first use
    with a botocore session per thread (each parsing botocore's JSON models again), and
    without a lock: the first fan-out of 16 threads over a model made up to 16 clients of it.
    A Lambda container's first reconcile spent ~10 of its 13 CPU-seconds that way. One
    Connection serves every table whose MetaTable it holds (a transaction spans tables
    through one already), and a botocore client is safe to share between threads.
    """
    tables = [model._get_connection() for model in models]
    shared = tables[0].connection
    for table in tables[1:]:
        shared.add_meta_table(table.get_meta_table())
        table.connection = shared
    shared.client  # noqa: B018 -- made now, under bind's lock, by one thread


def unbind() -> None:
    """Forget the binding, so the next use reads the settings again (tests)."""
    global _bound
    with _lock:
        _bound = False
