"""Webhooks delivered from the notices queue to a receiver on this machine (the local stage allows
http://127.0.0.1), whose signature check is the README's recipe, word for word.

A usage alert fires in a ledger transaction; its delivery message is taken off the queue
and handed to the worker as Lambda would, once per attempt: the receiver answers 500, times
out, redirects, or takes it. Every attempt carries the same `id`; each is recorded for
GET .../firings; after the last the event is dead-lettered and says so.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.aws import client
from chalicelib.adapters.queues import queue_url
from chalicelib.config import get_settings
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.webhooks import MAX_ATTEMPTS, RETRY_DELAYS
from chalicelib.services import notices, usage_alerts
from chalicelib.services.billing_settings import put_billing_settings
from tests.integration.http_helpers import drain_queue
from tests.integration.payment_helpers import emails_to
from tests.integration.test_usage_alerts import AT, charge, event
from tests.integration.usage_helpers import new_id, provision

pytestmark = pytest.mark.usefixtures("aws")
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verifier() -> Callable[[str, str, bytes], bool]:
    """The receiver's check, as the README shows it (the test fails if the recipe is wrong)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    [recipe] = [b for b in blocks if "def verify_billing_signature" in b]
    namespace: dict[str, Any] = {}
    exec(compile(recipe, "README.md", "exec"), namespace)
    return namespace["verify_billing_signature"]  # type: ignore[no-any-return]


class Receiver:
    """An HTTP receiver answering each request with the next of `answers` ("ok", "500", "timeout", "redirect")."""

    def __init__(self, secret_of: Callable[[], str], answers: list[str]) -> None:
        self.answers = answers
        self.secret_of = secret_of
        self.verify = readme_verifier()
        self.received: list[dict[str, Any]] = []
        self.redirect_followed = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/elsewhere":
                    receiver.redirect_followed = True
                answer = receiver.answers.pop(0) if receiver.answers else "ok"
                receiver.received.append(
                    {
                        "body": json.loads(body),
                        "verified": receiver.verify(receiver.secret_of(), self.headers["Billing-Signature"], body),
                        "answer": answer,
                    }
                )
                if answer == "timeout":
                    time.sleep(6)  # longer than the 5 s a delivery waits
                status = {"ok": 200, "500": 500, "timeout": 200, "redirect": 302}[answer]
                self.send_response(status)
                if answer == "redirect":
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/billing"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Callable[[list[str]], Receiver]]:
    made: list[Receiver] = []
    secret: dict[str, str] = {}

    def make(answers: list[str]) -> Receiver:
        r = Receiver(lambda: secret["value"], answers)
        r.secret_store = secret  # type: ignore[attr-defined]
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def fire_alert(receiver: Receiver) -> tuple[str, str]:
    """An account whose alert fires on its first call, with the receiver as its webhook."""
    account = provision(new_id("hook"))
    alert = usage_alerts.create_alert(
        Principal("admin", account, Role.ADMIN),
        account,
        {"name": "First call", "category": "call_minutes", "measure": "count", "period": "day", "threshold": "1",
         "recipients": [f"ops+{account}@example.com"], "webhook_url": receiver.url},
        agency=False,
    )  # fmt: skip
    receiver.secret_store["value"] = alert["webhook_secret"]  # type: ignore[attr-defined]
    charge([[event(account, "call_minutes", 2, AT)]])
    return account, alert["id"]


def take_delivery_message(alert_id: str) -> notices.Received:
    """The delivery message the writer queued, received as Lambda receives it (it stays on the queue)."""
    sqs = client("sqs")
    url = queue_url(get_settings().notices_queue_name)
    for _ in range(20):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", []):
            body = json.loads(m["Body"])
            if body.get("type") == "deliver" and body["owner"] == f"alert#{alert_id}":
                return notices.Received(m["Body"], m["MessageId"], m["ReceiptHandle"])
    raise AssertionError(f"no delivery message for {alert_id}")


def received_again(message: notices.Received) -> notices.Received:
    """The message as the next attempt receives it, without waiting out the delay the worker set."""
    sqs = client("sqs")
    url = queue_url(get_settings().notices_queue_name)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=0)
    for _ in range(20):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", []):
            if m["MessageId"] == message.message_id:
                return notices.Received(m["Body"], m["MessageId"], m["ReceiptHandle"])
    raise AssertionError("the message did not come back")


def firings_view(account: str, alert_id: str) -> list[dict[str, Any]]:
    view = usage_alerts.list_firings(Principal("viewer", account, Role.VIEWER), account, alert_id, {}, 50, agency=False)
    return list(view["items"])


def test_a_receiver_written_from_the_readme_verifies_the_delivery(receiver: Callable[[list[str]], Receiver]) -> None:
    hook = receiver(["ok"])
    account, alert_id = fire_alert(hook)
    message = take_delivery_message(alert_id)
    assert notices.handle(message) is notices.Outcome.DONE
    [got] = hook.received
    assert got["verified"] is True
    payload = got["body"]
    assert set(payload) == {"id", "type", "created_at", "account_id", "data"}
    assert payload["type"] == "usage_alert.triggered" and payload["account_id"] == account
    assert payload["data"]["alert_id"] == alert_id and payload["data"]["alert_name"] == "First call"
    assert (payload["data"]["value"], payload["data"]["threshold"], payload["data"]["period"]) == ("1", "1", "day")
    assert payload["data"]["period_start"] == payload["data"]["period_end"] == "2026-11-20"
    [fired] = firings_view(account, alert_id)
    assert fired["id"] == payload["id"] and fired["webhook"]["status"] == "delivered"
    assert [a["status"] for a in fired["webhook"]["attempts"]] == [200]
    assert fired["email"]["status"] == "sent" and fired["email"]["recipients"] == [f"ops+{account}@example.com"]
    [mail] = emails_to(f"ops+{account}@example.com")
    assert mail["subject"] == "Usage alert: First call reached 1 call (Nov 20, 2026)"
    assert "Value when it fired:  1 call" in mail["text"] and "count of calls per day" in mail["text"]
    assert "First call" in mail["html"]
    # The same message again (SQS delivers at least once): nothing is sent twice.
    assert notices.handle(message) is notices.Outcome.DONE
    assert len(hook.received) == 1


def test_a_tampered_body_or_an_old_signature_is_refused_by_the_recipe() -> None:
    from chalicelib.domain.webhooks import signature

    verify = readme_verifier()
    body = b'{"id":"evt_1"}'
    now = int(time.time())
    assert verify("whsec_x", signature("whsec_x", now, body), body)
    assert not verify("whsec_x", signature("whsec_x", now, body), body + b" ")
    assert not verify("whsec_y", signature("whsec_x", now, body), body)
    assert not verify("whsec_x", signature("whsec_x", now - 301, body), body)  # older than 5 minutes
    assert not verify("whsec_x", "v1=abc", body)


def test_retries_after_500s_a_timeout_and_a_redirect_keep_the_id_and_the_last_is_dead_lettered(
    receiver: Callable[[list[str]], Receiver],
) -> None:
    hook = receiver(["500", "timeout", "redirect"] + ["500"] * (MAX_ATTEMPTS - 3))
    account, alert_id = fire_alert(hook)
    message = take_delivery_message(alert_id)
    outcomes = []
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            message = received_again(message)
        outcomes.append(notices.handle(message))
    assert outcomes == [notices.Outcome.RETRY] * (MAX_ATTEMPTS - 1) + [notices.Outcome.DONE]
    ids = {r["body"]["id"] for r in hook.received}
    assert len(hook.received) == MAX_ATTEMPTS and len(ids) == 1 and all(r["verified"] for r in hook.received)
    assert not hook.redirect_followed
    [fired] = firings_view(account, alert_id)
    attempts = fired["webhook"]["attempts"]
    assert fired["webhook"]["status"] == "dead_lettered" and fired["id"] in ids
    assert [a["status"] for a in attempts[:3]] == [500, None, 302]
    assert "timeout" in attempts[1]["error"]
    assert fired["email"]["status"] == "sent" and len(emails_to(f"ops+{account}@example.com")) == 1  # once
    dead = drain_queue(get_settings().notices_dlq_name)
    assert [json.loads(m["Body"])["owner"] for m in dead] == [f"alert#{alert_id}"]
    assert "8 attempts" in dead[0]["MessageAttributes"]["reason"]["StringValue"]
    assert 22 <= sum(RETRY_DELAYS) / 3600 <= 24  # about a day, as the README says
    assert max(RETRY_DELAYS) < 12 * 3600  # SQS's cap on a message's visibility


def test_a_delivery_that_fails_then_succeeds_records_both_attempts(receiver: Callable[[list[str]], Receiver]) -> None:
    hook = receiver(["500", "ok"])
    account, alert_id = fire_alert(hook)
    message = take_delivery_message(alert_id)
    assert notices.handle(message) is notices.Outcome.RETRY
    [fired] = firings_view(account, alert_id)
    next_at = datetime.fromisoformat(fired["webhook"]["next_attempt_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=50) < next_at - datetime.now(UTC) <= timedelta(seconds=RETRY_DELAYS[0])
    assert notices.handle(received_again(message)) is notices.Outcome.DONE
    [fired] = firings_view(account, alert_id)
    assert [a["status"] for a in fired["webhook"]["attempts"]] == [500, 200]
    assert fired["webhook"]["status"] == "delivered" and fired["webhook"]["next_attempt_at"] is None
    assert len({r["body"]["id"] for r in hook.received}) == 1


def test_billing_events_go_to_the_billing_webhook_signed_with_its_secret(
    receiver: Callable[[list[str]], Receiver],
) -> None:
    from chalicelib.services.payments import add_funds

    hook = receiver(["ok"])
    account = provision(new_id("payer"), emails=["owner@payer.example"])
    owner = Principal("admin", account, Role.ADMIN)
    settings = put_billing_settings(owner, account, {"primary_card": "pm_card_visa", "webhook_url": hook.url})
    hook.secret_store["value"] = settings["webhook_secret"]  # type: ignore[attr-defined]
    again = put_billing_settings(owner, account, {"webhook_url": hook.url})
    assert "webhook_secret" not in again and again["webhook_url"] == hook.url  # the same URL keeps its secret
    paid = add_funds(owner, account, {"amount": "20.00"}, "webhook-test-1")
    assert paid.status == 201
    sqs, url = client("sqs"), queue_url(get_settings().notices_queue_name)
    handled = 0
    for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", []):
        if json.loads(m["Body"]).get("owner") == f"hook#{account}":
            notices.handle(notices.Received(m["Body"], m["MessageId"], m["ReceiptHandle"]))
            handled += 1
    assert handled == 1
    [got] = hook.received
    assert got["verified"] and got["body"]["type"] == "payment.succeeded"
    assert got["body"]["data"]["payment_id"] == paid.body["id"] and got["body"]["data"]["amount"] == "20.00"
    removed = put_billing_settings(owner, account, {"webhook_url": None})
    assert removed["webhook_url"] is None


def test_a_billing_event_survives_a_throttled_write_and_a_refused_one_is_given_up(
    receiver: Callable[[list[str]], Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording the event is tried again after a transient error (it is idempotent), so a throttled
    moment does not lose a receiver its event; a permanent error is logged, not raised nor retried."""
    from botocore.exceptions import ClientError

    from chalicelib.adapters.accounts_repo import AccountRepository
    from chalicelib.adapters.notices_repo import NoticeRepository, hook_owner
    from chalicelib.domain.webhooks import EventType, event_id_for
    from chalicelib.services.webhooks import emit

    hook = receiver(["ok"])
    account_id = provision(new_id("payer"), emails=["owner@payer.example"])
    put_billing_settings(Principal("admin", account_id, Role.ADMIN), account_id, {"webhook_url": hook.url})
    account = AccountRepository().get(account_id)
    assert account is not None
    real = NoticeRepository.record_event
    failures: list[str] = []
    calls: list[str] = []

    def flaky(self: NoticeRepository, owner: str, event_id: str, *args: Any) -> bool:
        calls.append(event_id)
        if failures:
            code = failures.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "PutItem")
        return real(self, owner, event_id, *args)

    monkeypatch.setattr(NoticeRepository, "record_event", flaky)
    monkeypatch.setattr("time.sleep", lambda s: None)

    failures[:] = ["ThrottlingException", "ProvisionedThroughputExceededException"]
    emit(account, EventType.BALANCE_LOW, "throttled", {"balance": "1.00"})
    throttled = event_id_for(EventType.BALANCE_LOW, "throttled")
    assert calls == [throttled] * 3  # two throttled tries, then written
    assert NoticeRepository().get(hook_owner(account_id), throttled) is not None

    calls.clear()
    failures[:] = ["ValidationException"]
    emit(account, EventType.BALANCE_LOW, "refused", {"balance": "1.00"})  # logged, not raised
    refused = event_id_for(EventType.BALANCE_LOW, "refused")
    assert calls == [refused]
    assert NoticeRepository().get(hook_owner(account_id), refused) is None
