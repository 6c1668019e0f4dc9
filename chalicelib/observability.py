"""Structured logs and CloudWatch metrics (EMF) through Powertools, created lazily."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

SERVICE = "charges-and-usage"
NAMESPACE = "ChargesAndUsage"


@lru_cache(maxsize=1)
def get_logger() -> Any:
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE)


def record_ingest(charged: int, duplicates: int, dead_lettered: int, failed: int) -> None:
    """One EMF document per batch: events charged, duplicates dropped, dead-lettered, retried."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    counts = {
        "EventsCharged": charged,
        "DuplicatesDropped": duplicates,
        "DeadLettered": dead_lettered,
        "EventsRetried": failed,
    }
    for name, value in counts.items():
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="service", value=SERVICE)
