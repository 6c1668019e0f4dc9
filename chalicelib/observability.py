"""Structured logs and CloudWatch metrics (EMF) through Powertools, created lazily.

Logs are JSON lines (Powertools Logger) carrying, where known, the Lambda request
id (`function_request_id`), API Gateway's request id (`request_id`), the account
the request is about (`account_id`), the caller (`principal`, `role`) and, in the
usage pipeline, the `event_id` and `message_id`. `log_context` is the middleware
that adds and removes the per-invocation keys.

Metrics are CloudWatch embedded-metric-format documents written to the log (no
API call, no extra latency): EventsCharged, DuplicatesDropped, DeadLettered,
EventsRetried (per usage batch), Recharges (by outcome), StatementsSent,
RateLimited (by action), in the ChargesAndUsage namespace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

SERVICE = "charges-and-usage"
NAMESPACE = "ChargesAndUsage"


@lru_cache(maxsize=1)
def get_logger() -> Any:
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE)


def record_count(name: str, value: int = 1, **dimensions: str) -> None:
    """One EMF document: `name` = value, with the service and these dimensions."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


def record_ingest(charged: int, duplicates: int, dead_lettered: int, failed: int) -> None:
    """One EMF document per metric per batch: events charged, duplicates dropped, dead-lettered, retried."""
    counts = {
        "EventsCharged": charged,
        "DuplicatesDropped": duplicates,
        "DeadLettered": dead_lettered,
        "EventsRetried": failed,
    }
    for name, value in counts.items():
        record_count(name, value)


def record_dead_lettered(source: str, count: int = 1) -> None:
    """Messages parked on a dead-letter queue by the app (beside the usage batches' count)."""
    record_count("DeadLettered", count, queue=source)


def record_recharge(outcome: str) -> None:
    """A recharge task finished: succeeded, declined, stale, not_possible (or alerted, for an alert)."""
    record_count("Recharges", 1, outcome=outcome)


def record_statement_sent(count: int = 1) -> None:
    """Statements emailed (call once per statement sent)."""
    record_count("StatementsSent", count)


def record_rate_limited(action: str, account_id: str) -> None:
    record_count("RateLimited", 1, action=action)
    get_logger().warning("rate limited", extra={"action": action, "account_id": account_id})


def _request_keys(event: Any) -> dict[str, Any]:
    context = getattr(event, "context", None) or {}
    authorizer = context.get("authorizer") or {} if isinstance(context, dict) else {}
    params = getattr(event, "uri_params", None) or {}
    return {
        "request_id": context.get("requestId") if isinstance(context, dict) else None,
        "account_id": params.get("account_id") or params.get("agency_id"),
        "principal": authorizer.get("principalId"),
        "role": authorizer.get("role"),
        "caller_account_id": authorizer.get("account_id"),
    }


def log_context(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Middleware (all event types): per-invocation log keys; one access line per HTTP request."""
    logger = get_logger()
    lambda_context = getattr(event, "lambda_context", None)
    if lambda_context is None and not isinstance(getattr(event, "context", None), dict):
        lambda_context = getattr(event, "context", None)
    is_http = hasattr(event, "method") and hasattr(event, "uri_params")
    keys: dict[str, Any] = {"function_request_id": getattr(lambda_context, "aws_request_id", None)}
    if is_http:
        keys.update(_request_keys(event))
    keys = {k: v for k, v in keys.items() if v is not None}
    logger.append_keys(**keys)
    started = time.perf_counter()
    try:
        response = get_response(event)
        if is_http:
            status = getattr(response, "status_code", 200)
            log = logger.warning if status >= 500 else logger.info
            log(
                "request",
                extra={
                    "method": event.method,
                    "path": event.path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        return response
    except Exception:
        logger.exception("unhandled error", extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)})
        raise
    finally:
        logger.remove_keys(list(keys))
