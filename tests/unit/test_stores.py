"""The deployed stores: each port is the adapter it names, built once and on first use; the
wrappers hand every argument through unchanged; `use_stores` binds and restores."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters import alerts_repo as alerts_module
from chalicelib.adapters import email, notice_queue, queues, secrets, statement_queue, webhook_client
from chalicelib.adapters.accounts_repo import AccountRepository
from chalicelib.adapters.alerts_repo import AlertRepository, CounterKey
from chalicelib.adapters.billing_repo import BillingRepository
from chalicelib.adapters.checkpoints_repo import CheckpointRepository
from chalicelib.adapters.email import Attachment
from chalicelib.adapters.gateway import factory
from chalicelib.adapters.gateway.simulated import SimulatedGateway
from chalicelib.adapters.ledger_repo import LedgerRepository
from chalicelib.adapters.notices_repo import NoticeRepository
from chalicelib.adapters.payments_repo import IdempotencyRepository, PaymentRepository
from chalicelib.adapters.queues import OutgoingMessage
from chalicelib.adapters.rate_limits_repo import RateLimitRepository
from chalicelib.adapters.rollups_repo import RollupRepository
from chalicelib.adapters.statements_repo import ScheduleRepository, StatementRepository
from chalicelib.adapters.webhook_client import Attempt
from chalicelib.adapters.webhook_endpoints_repo import WebhookEndpointRepository
from chalicelib.services.stores import DynamoStores, stores, use_stores
from tests.fakes import FakeStores


@pytest.mark.parametrize(
    ("port", "adapter"),
    [
        ("accounts", AccountRepository),
        ("ledger", LedgerRepository),
        ("billing", BillingRepository),
        ("payments", PaymentRepository),
        ("idempotency", IdempotencyRepository),
        ("rollups", RollupRepository),
        ("statements", StatementRepository),
        ("schedules", ScheduleRepository),
        ("alerts", AlertRepository),
        ("notices", NoticeRepository),
        ("webhook_endpoints", WebhookEndpointRepository),
        ("checkpoints", CheckpointRepository),
        ("rate_limits", RateLimitRepository),
    ],
)
def test_each_storage_port_is_its_repository_built_once(port: str, adapter: type) -> None:
    deployed = DynamoStores()
    assert port not in vars(deployed)  # nothing is built before it is asked for
    first = getattr(deployed, port)
    assert isinstance(first, adapter) and getattr(deployed, port) is first


def test_the_gateway_is_the_factorys_so_tests_and_settings_can_swap_it() -> None:
    gateway = SimulatedGateway()
    factory.set_gateway(gateway)
    try:
        assert DynamoStores().gateway is gateway
    finally:
        factory.reset_gateway()


def test_the_clock_is_the_wall_clock_in_utc() -> None:
    before = datetime.now(UTC)
    now = DynamoStores().clock()
    assert now.tzinfo is UTC and before <= now <= datetime.now(UTC)


def test_the_wrappers_hand_every_argument_to_their_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def spy(name: str, answer: Any = None) -> Any:
        def record(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, args, kwargs))
            return answer

        return record

    attempt = Attempt(204, None, 3)
    monkeypatch.setattr(queues, "send_usage_messages", spy("usage"))
    monkeypatch.setattr(queues, "send_billing_tasks", spy("tasks"))
    monkeypatch.setattr(statement_queue, "send_statement_messages", spy("statements"))
    monkeypatch.setattr(notice_queue, "send_notice_messages", spy("notices"))
    monkeypatch.setattr(notice_queue, "retry_later", spy("retry"))
    monkeypatch.setattr(notice_queue, "dead_letter_notice", spy("dead"))
    monkeypatch.setattr(email, "send_email", spy("mail", "ses-1"))
    monkeypatch.setattr(webhook_client, "post", spy("post", attempt))
    monkeypatch.setattr(secrets, "ledger_key", spy("ledger_key", b"k"))
    monkeypatch.setattr(secrets, "jwt_secret", spy("jwt", "j"))
    monkeypatch.setattr(alerts_module, "read_counters", spy("counters", {}))
    monkeypatch.setattr(alerts_module, "read_guards", spy("guards", {"ag": 2}))

    deployed = DynamoStores()
    usage = [OutgoingMessage("{}", "g", "d")]
    pdf = Attachment("s.pdf", "application/pdf", b"%PDF")
    key = CounterKey("ag", "a1", "D", "2026-03-01")
    deployed.queues.send_usage(usage)
    deployed.queues.send_billing_tasks(["{}"])
    deployed.queues.send_statements([{"type": "send"}])
    deployed.queues.send_notices([{"type": "deliver"}])
    deployed.queues.retry_notice_later("rh", 30)
    deployed.queues.dead_letter_notice("body", "why", "m1")
    sent = deployed.mailer.send(
        to=["a@x.io"], subject="s", text="t", html="<p>t</p>", attachments=[pdf], reply_to="r@x.io"
    )
    posted = deployed.webhooks.post("https://h.example/x", b"{}", {"X": "1"}, local=False)
    assert (sent, posted) == ("ses-1", attempt)
    assert deployed.secrets.ledger_key() == b"k" and deployed.secrets.jwt_secret() == "j"
    assert deployed.alert_counters.read_counters([key]) == {} and deployed.alert_counters.read_guards(["ag"]) == {
        "ag": 2
    }
    assert calls == [
        ("usage", (usage,), {}),
        ("tasks", (["{}"],), {}),
        ("statements", ([{"type": "send"}],), {}),
        ("notices", ([{"type": "deliver"}],), {}),
        ("retry", ("rh", 30), {}),
        ("dead", ("body", "why", "m1"), {}),
        ("mail", (), {"to": ["a@x.io"], "subject": "s", "text": "t", "html": "<p>t</p>", "attachments": [pdf],
                      "reply_to": "r@x.io"}),
        ("post", ("https://h.example/x", b"{}", {"X": "1"}), {"local": False}),
        ("ledger_key", (), {}),
        ("jwt", (), {}),
        ("counters", ([key],), {}),
        ("guards", (["ag"],), {}),
    ]  # fmt: skip


def test_use_stores_binds_for_the_block_and_restores_what_was_bound() -> None:
    deployed = stores()
    assert isinstance(deployed, DynamoStores) and stores() is deployed
    outer, inner = FakeStores(), FakeStores()
    with use_stores(outer):
        assert stores() is outer
        with use_stores(inner):
            assert stores() is inner
        assert stores() is outer
        with pytest.raises(RuntimeError), use_stores(inner):
            raise RuntimeError("a failing test")
        assert stores() is outer
    assert stores() is deployed


def test_importing_the_stores_and_building_them_loads_no_adapter() -> None:
    # Cold starts stay cheap: a function loads only the adapters its invocations ask for.
    probe = (
        "import sys; from chalicelib.services.stores import stores; stores();"
        "print(sorted(m for m in sys.modules if m.startswith('chalicelib.adapters')))"
    )
    root = Path(__file__).parents[2]
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
