"""Structured logs and CloudWatch metrics (EMF) through Powertools, created lazily.

Logs are JSON lines (Powertools Logger) carrying, where known, the Lambda request
id (`function_request_id`), API Gateway's request id (`request_id`), the account
the request is about (`account_id`), the caller (`principal`, `role`) and, in the
usage pipeline, the `event_id` and `message_id`. `log_context` is the middleware
that adds and removes the per-invocation keys.

Every line is written once, as JSON: the Powertools logger is the only handler on
its logger (app.py turns Chalice's own plain-text handler off) and it does not
propagate to the root logger (where Lambda's runtime and `chalice local` have
theirs).

Metrics are CloudWatch embedded-metric-format documents written to the log (no
API call, no extra latency): EventsCharged, DuplicatesDropped, DeadLettered,
EventsRetried (per usage batch), Recharges (by outcome), StatementsSent,
RateLimited (by action), in the ChargesAndUsage namespace.

Tracing (X-Ray through the Powertools Tracer) is on when POWERTOOLS_TRACE_DISABLED
is `false` (a deployed stack sets it from its `Tracing` parameter): each invocation
is a `## <function>` subsegment annotated with ColdStart, and every AWS call made
through botocore is a subsegment of it. Otherwise the tracer is never imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

SERVICE = "charges-and-usage"
NAMESPACE = "ChargesAndUsage"
TRACING_VARIABLE = "POWERTOOLS_TRACE_DISABLED"

_cold_start = True


@lru_cache(maxsize=1)
def get_logger() -> Any:
    from aws_lambda_powertools import Logger

    logger = Logger(service=SERVICE)
    # Its own stdout handler writes the JSON line; a root handler would write a copy.
    logging.getLogger(SERVICE).propagate = False
    return logger


def tracing_enabled() -> bool:
    return os.environ.get(TRACING_VARIABLE, "true").strip().lower() in ("false", "0", "no")


@lru_cache(maxsize=1)
def get_tracer() -> Any:
    """The Powertools Tracer (botocore patched), or None when tracing is off."""
    if not tracing_enabled():
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE, patch_modules=["botocore"])


@contextlib.contextmanager
def traced(name: str) -> Iterator[None]:
    """A `## name` X-Ray subsegment around an invocation (nothing when tracing is off)."""
    global _cold_start
    cold, _cold_start = _cold_start, False
    tracer = get_tracer()
    if tracer is None or tracer.disabled:
        yield
        return
    with tracer.provider.in_subsegment(f"## {name}") as subsegment:
        subsegment.put_annotation(key="ColdStart", value=cold)
        subsegment.put_annotation(key="Service", value=SERVICE)
        yield


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
    name = getattr(lambda_context, "function_name", None) or "handler"
    try:
        with traced(name):
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
