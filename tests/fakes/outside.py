"""Fakes of what is outside DynamoDB: the queues, SES, webhook receivers, secrets and the clock."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.email import Attachment, build_message
from chalicelib.adapters.queues import OutgoingMessage
from chalicelib.adapters.webhook_client import Attempt


@dataclass
class FakeQueues:
    """Remembers what each queue was sent, in order."""

    usage: list[OutgoingMessage] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)
    billing_tasks: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    notice_retries: list[tuple[str, int]] = field(default_factory=list)
    dead_notices: list[tuple[str, str, str]] = field(default_factory=list)

    def send_usage(self, messages: Sequence[OutgoingMessage]) -> None:
        self.usage.extend(messages)

    def send_statements(self, messages: Sequence[Mapping[str, Any]]) -> None:
        self.statements.extend(dict(m) for m in messages)

    def send_billing_tasks(self, bodies: Sequence[str]) -> None:
        self.billing_tasks.extend(json.loads(b) for b in bodies)

    def send_notices(self, messages: Sequence[Mapping[str, Any]]) -> None:
        self.notices.extend(dict(m) for m in messages)

    def retry_notice_later(self, receipt_handle: str, seconds: int) -> None:
        self.notice_retries.append((receipt_handle, seconds))

    def dead_letter_notice(self, body: str, reason: str, message_id: str) -> None:
        self.dead_notices.append((body, reason, message_id))


@dataclass(frozen=True)
class SentMail:
    to: list[str]
    subject: str
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    reply_to: str | None
    message_id: str


@dataclass
class FakeMailer:
    """Keeps every message; builds its MIME like SES would receive it, so a message the adapter
    would refuse (a line break in a header, a bad address) is refused here too."""

    sent: list[SentMail] = field(default_factory=list)
    fail_with: Exception | None = None

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
        if self.fail_with is not None:
            raise self.fail_with
        build_message(
            sender="billing@example.com",
            to=to,
            subject=subject,
            text=text,
            html=html,
            attachments=attachments,
            reply_to=reply_to,
        )
        message_id = f"fake-{len(self.sent) + 1}"
        self.sent.append(SentMail(list(to), subject, text, html, tuple(attachments), reply_to, message_id))
        return message_id


@dataclass
class FakeWebhooks:
    """Answers each POST with the next of `answers` (200 when they run out) and remembers it."""

    answers: list[Attempt] = field(default_factory=list)
    posted: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, local: bool) -> Attempt:
        self.posted.append((url, body, dict(headers)))
        return self.answers.pop(0) if self.answers else Attempt(200, None, 1)


@dataclass
class FakeSecrets:
    ledger: bytes = b"test-ledger-key-0123456789abcdef"
    jwt: str = "test-jwt-secret-0123456789abcdef"

    def ledger_key(self) -> bytes:
        return self.ledger

    def jwt_secret(self) -> str:
        return self.jwt


@dataclass
class FakeClock:
    """A clock that moves only when told to."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 15, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def sleep(self, seconds: float) -> None:  # for services that take a `sleep`
        self.now += timedelta(seconds=seconds)
