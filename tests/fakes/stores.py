"""`FakeStores`: every port of services/ports.py, in memory, as one value to bind."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.gateway.simulated import SimulatedGateway
from tests.fakes.outside import FakeClock, FakeMailer, FakeQueues, FakeSecrets, FakeWebhooks


class NotGiven:
    """A port the test did not give: any use of it fails, naming it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"this test uses stores().{self._name}.{attribute} but gave no fake for it")


class FakeStores:
    """Pass any port to replace its default fake: `FakeStores(ledger=my_ledger)`."""

    PORTS = (
        "accounts",
        "ledger",
        "billing",
        "payments",
        "idempotency",
        "rollups",
        "statements",
        "schedules",
        "alerts",
        "alert_counters",
        "notices",
        "webhook_endpoints",
        "checkpoints",
        "rate_limits",
    )

    def __init__(self, **given: Any) -> None:
        unknown = set(given) - set(self.PORTS) - {"queues", "mailer", "webhooks", "gateway", "secrets", "clock"}
        if unknown:
            raise TypeError(f"FakeStores has no port {sorted(unknown)}")
        for name in self.PORTS:
            setattr(self, name, given.get(name) or NotGiven(name))
        self.queues: FakeQueues = given.get("queues") or FakeQueues()
        self.mailer: FakeMailer = given.get("mailer") or FakeMailer()
        self.webhooks: FakeWebhooks = given.get("webhooks") or FakeWebhooks()
        self.gateway: SimulatedGateway = given.get("gateway") or SimulatedGateway()
        self.secrets: FakeSecrets = given.get("secrets") or FakeSecrets()
        self.clock: FakeClock = given.get("clock") or FakeClock()
