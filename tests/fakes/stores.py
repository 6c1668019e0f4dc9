"""`FakeStores`: every port of services/ports.py, in memory, as one value to bind.

`FakeStores()` gives a consistent world: the ledger, billing, rollups and alert counters share
one `LedgerTables` (a posting moves the head that `billing.head` reads and the rollups that
reports read), the ledger records firings in `notices`, and the alerts keep their watch on the
accounts' items. Pass any port to replace its fake (`FakeStores(ledger=my_ledger)`); pass
`tables=` too when the ones you give share tables of your own.
"""

from __future__ import annotations

from chalicelib.adapters.gateway.base import PaymentGateway
from chalicelib.adapters.gateway.simulated import SimulatedGateway
from chalicelib.services.ports import (
    AccountStore,
    AlertCounterStore,
    AlertStore,
    BillingStore,
    CheckpointStore,
    IdempotencyStore,
    LedgerStore,
    NoticeStore,
    PaymentStore,
    RateLimitStore,
    RollupStore,
    ScheduleStore,
    StatementStore,
    WebhookEndpointStore,
)
from tests.fakes.accounts import FakeAccounts
from tests.fakes.alerts import FakeAlerts, FakeNotices, FakeWebhookEndpoints
from tests.fakes.housekeeping import FakeCheckpoints, FakeRateLimits
from tests.fakes.ledger import FakeAlertCounters, FakeBilling, FakeLedger, FakeRollups, LedgerTables
from tests.fakes.outside import FakeClock, FakeMailer, FakeQueues, FakeSecrets, FakeWebhooks
from tests.fakes.payments import FakeIdempotency, FakePayments
from tests.fakes.statements import FakeSchedules, FakeStatements


class FakeStores:
    """Satisfies `chalicelib.services.ports.Stores` (mypy checks it where a test binds one)."""

    def __init__(
        self,
        *,
        tables: LedgerTables | None = None,
        accounts: AccountStore | None = None,
        ledger: LedgerStore | None = None,
        billing: BillingStore | None = None,
        payments: PaymentStore | None = None,
        idempotency: IdempotencyStore | None = None,
        rollups: RollupStore | None = None,
        statements: StatementStore | None = None,
        schedules: ScheduleStore | None = None,
        alerts: AlertStore | None = None,
        alert_counters: AlertCounterStore | None = None,
        notices: NoticeStore | None = None,
        webhook_endpoints: WebhookEndpointStore | None = None,
        checkpoints: CheckpointStore | None = None,
        rate_limits: RateLimitStore | None = None,
        queues: FakeQueues | None = None,
        mailer: FakeMailer | None = None,
        webhooks: FakeWebhooks | None = None,
        gateway: PaymentGateway | None = None,
        secrets: FakeSecrets | None = None,
        clock: FakeClock | None = None,
    ) -> None:
        self.clock = clock or FakeClock()
        self.secrets = secrets or FakeSecrets()
        self.queues = queues or FakeQueues()
        self.mailer = mailer or FakeMailer()
        self.webhooks = webhooks or FakeWebhooks()
        self.gateway: PaymentGateway = gateway or SimulatedGateway()
        self.tables = tables or LedgerTables()
        fake_accounts = FakeAccounts()
        self.accounts: AccountStore = accounts or fake_accounts
        self.notices: NoticeStore = notices or FakeNotices()
        self.ledger: LedgerStore = ledger or FakeLedger(self.tables, notices=self.notices, clock=self.clock)
        self.billing: BillingStore = billing or FakeBilling(self.tables)
        self.rollups: RollupStore = rollups or FakeRollups(self.tables)
        self.alert_counters: AlertCounterStore = alert_counters or FakeAlertCounters(self.tables)
        self.payments: PaymentStore = payments or FakePayments()
        self.idempotency: IdempotencyStore = idempotency or FakeIdempotency()
        self.statements: StatementStore = statements or FakeStatements(key=self.secrets.ledger)
        self.schedules: ScheduleStore = schedules or FakeSchedules()
        # The watches live on the owner's account item: the alerts need the fake accounts' items.
        keeper = self.accounts if isinstance(self.accounts, FakeAccounts) else fake_accounts
        self.alerts: AlertStore = alerts or FakeAlerts(keeper)
        self.webhook_endpoints: WebhookEndpointStore = webhook_endpoints or FakeWebhookEndpoints()
        self.checkpoints: CheckpointStore = checkpoints or FakeCheckpoints()
        self.rate_limits: RateLimitStore = rate_limits or FakeRateLimits()
