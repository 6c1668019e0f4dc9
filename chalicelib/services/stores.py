"""The one place a service gets its stores, queues, mail, secrets and clock from.

A service calls `stores()` and speaks to the ports of `services/ports.py`, never to a
concrete repository: `stores().ledger.commit(...)`, `stores().queues.send_usage(...)`. In the
Lambda functions that is `DynamoStores`, the deployed adapters, each built on first use (a
function that never reads payments never imports the payments repository, which keeps cold
starts as cheap as before). A unit test binds in-memory fakes for the length of a `with`:

    with use_stores(FakeStores()):
        record_usage(...)

The binding is process-wide rather than a context variable on purpose: services fan reads out
to worker threads (adapters/concurrency.py), and those threads must see the same stores.
A Lambda process runs one invocation at a time, and the tests bind one set at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..adapters.alerts_repo import CounterKey
    from ..adapters.email import Attachment
    from ..adapters.gateway.base import PaymentGateway
    from ..adapters.queues import OutgoingMessage
    from ..adapters.webhook_client import Attempt
    from ..domain.rollups import RollupKey, RollupTotals
    from .ports import (
        AccountStore,
        AlertCounterStore,
        AlertStore,
        BillingStore,
        CheckpointStore,
        Clock,
        IdempotencyStore,
        LedgerStore,
        Mailer,
        NoticeStore,
        PaymentStore,
        Queues,
        RateLimitStore,
        RollupStore,
        ScheduleStore,
        Secrets,
        StatementStore,
        Stores,
        WebhookEndpointStore,
        WebhookPoster,
    )


def _now() -> datetime:
    return datetime.now(UTC)


class SqsQueues:
    """The stack's queues (adapters/queues.py, statement_queue.py, notice_queue.py)."""

    def send_usage(self, messages: Sequence[OutgoingMessage]) -> None:
        from ..adapters.queues import send_usage_messages

        send_usage_messages(messages)

    def send_statements(self, messages: Sequence[Mapping[str, Any]]) -> None:
        from ..adapters.statement_queue import send_statement_messages

        send_statement_messages(messages)

    def send_billing_tasks(self, bodies: Sequence[str]) -> None:
        from ..adapters.queues import send_billing_tasks

        send_billing_tasks(bodies)

    def send_notices(self, messages: Sequence[Mapping[str, Any]]) -> None:
        from ..adapters.notice_queue import send_notice_messages

        send_notice_messages(messages)

    def retry_notice_later(self, receipt_handle: str, seconds: int) -> None:
        from ..adapters.notice_queue import retry_later

        retry_later(receipt_handle, seconds)

    def dead_letter_notice(self, body: str, reason: str, message_id: str) -> None:
        from ..adapters.notice_queue import dead_letter_notice

        dead_letter_notice(body, reason, message_id)


class SesMailer:
    def send(
        self,
        *,
        to: list[str],
        subject: str,
        text: str,
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        reply_to: str | None = None,
    ) -> str:
        from ..adapters.email import send_email

        return send_email(to=to, subject=subject, text=text, html=html, attachments=attachments, reply_to=reply_to)


class HttpWebhooks:
    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, local: bool) -> Attempt:
        from ..adapters.webhook_client import post

        return post(url, body, headers, local=local)


class StackSecrets:
    """The stack's secrets (SSM in AWS, the environment locally), cached by adapters/secrets.py."""

    def ledger_key(self) -> bytes:
        from ..adapters.secrets import ledger_key

        return ledger_key()

    def jwt_secret(self) -> str:
        from ..adapters.secrets import jwt_secret

        return jwt_secret()


class DynamoAlertCounters:
    def read_counters(self, keys: Iterable[CounterKey]) -> dict[RollupKey, RollupTotals]:
        from ..adapters.alerts_repo import read_counters

        return read_counters(keys)

    def read_guards(self, scope_ids: Iterable[str]) -> dict[str, int]:
        from ..adapters.alerts_repo import read_guards

        return read_guards(scope_ids)


class DynamoStores:
    """The deployed adapters: DynamoDB tables, SQS, SES, the configured payment gateway."""

    @cached_property
    def accounts(self) -> AccountStore:
        from ..adapters.accounts_repo import AccountRepository

        return AccountRepository()

    @cached_property
    def ledger(self) -> LedgerStore:
        from ..adapters.ledger_repo import LedgerRepository

        return LedgerRepository()

    @cached_property
    def billing(self) -> BillingStore:
        from ..adapters.billing_repo import BillingRepository

        return BillingRepository()

    @cached_property
    def payments(self) -> PaymentStore:
        from ..adapters.payments_repo import PaymentRepository

        return PaymentRepository()

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        from ..adapters.payments_repo import IdempotencyRepository

        return IdempotencyRepository()

    @cached_property
    def rollups(self) -> RollupStore:
        from ..adapters.rollups_repo import RollupRepository

        return RollupRepository()

    @cached_property
    def statements(self) -> StatementStore:
        from ..adapters.statements_repo import StatementRepository

        return StatementRepository()

    @cached_property
    def schedules(self) -> ScheduleStore:
        from ..adapters.statements_repo import ScheduleRepository

        return ScheduleRepository()

    @cached_property
    def alerts(self) -> AlertStore:
        from ..adapters.alerts_repo import AlertRepository

        return AlertRepository()

    @cached_property
    def alert_counters(self) -> AlertCounterStore:
        return DynamoAlertCounters()

    @cached_property
    def notices(self) -> NoticeStore:
        from ..adapters.notices_repo import NoticeRepository

        return NoticeRepository()

    @cached_property
    def webhook_endpoints(self) -> WebhookEndpointStore:
        from ..adapters.webhook_endpoints_repo import WebhookEndpointRepository

        return WebhookEndpointRepository()

    @cached_property
    def checkpoints(self) -> CheckpointStore:
        from ..adapters.checkpoints_repo import CheckpointRepository

        return CheckpointRepository()

    @cached_property
    def rate_limits(self) -> RateLimitStore:
        from ..adapters.rate_limits_repo import RateLimitRepository

        return RateLimitRepository()

    @cached_property
    def queues(self) -> Queues:
        return SqsQueues()

    @cached_property
    def mailer(self) -> Mailer:
        return SesMailer()

    @cached_property
    def webhooks(self) -> WebhookPoster:
        return HttpWebhooks()

    @property
    def gateway(self) -> PaymentGateway:
        # Not cached here: adapters/gateway/factory.py owns that cache (and tests swap it there).
        from ..adapters.gateway.factory import get_gateway

        return get_gateway()

    @cached_property
    def secrets(self) -> Secrets:
        return StackSecrets()

    @property
    def clock(self) -> Clock:
        return _now


_bound: Stores | None = None
_deployed: Stores | None = None


def stores() -> Stores:
    """The stores bound now: fakes inside `use_stores`, else the deployed adapters."""
    global _deployed
    if _bound is not None:
        return _bound
    if _deployed is None:
        _deployed = DynamoStores()
    return _deployed


@contextmanager
def use_stores(bound: Stores) -> Iterator[Stores]:
    """Bind `bound` for the length of the block (tests; a Lambda keeps the deployed ones)."""
    global _bound
    before, _bound = _bound, bound
    try:
        yield bound
    finally:
        _bound = before
