"""services/webhooks.py and notice_dispatch.py on fakes: an account's endpoint, billing events
recorded once per endpoint and queued, a transient storage error tried again."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from chalicelib.adapters.notices_repo import Notice
from chalicelib.domain.accounts import Billing
from chalicelib.domain.alerts import AlertPeriod, AlertScope, Firing, Measure, Watch, window_of
from chalicelib.domain.webhooks import EventType, event_id_for
from chalicelib.services import webhooks
from chalicelib.services.errors import BadRequest
from chalicelib.services.notice_dispatch import dispatch_firings, dispatch_notices
from tests.fakes.alerts import FakeNotices, FakeWebhookEndpoints
from tests.fakes.outside import FakeClock, FakeQueues

from .conftest import account, bind

URL = "http://127.0.0.1:8080/hook"  # the local stage (the unit tier's) may call loopback
pytestmark = pytest.mark.usefixtures("bound")


def test_setting_a_url_answers_its_secret_once_and_the_same_url_keeps_it(
    endpoints: FakeWebhookEndpoints, clock: FakeClock
) -> None:
    acct = account("acct-1")
    secret = webhooks.set_billing_webhook(acct, URL)
    assert secret is not None and secret.startswith("whsec_")
    assert webhooks.billing_webhook_url("acct-1") == URL
    assert endpoints.updated_at["acct-1"] == clock.now

    assert webhooks.set_billing_webhook(acct, URL) is None  # unchanged: no new secret
    stored = endpoints.get("acct-1")
    assert stored is not None and stored.secret == secret

    other = webhooks.set_billing_webhook(acct, "http://127.0.0.1:8081/other")
    assert other is not None and other != secret

    assert webhooks.set_billing_webhook(acct, None) is None
    assert webhooks.billing_webhook_url("acct-1") is None


def test_a_url_that_may_not_be_called_is_a_400_and_changes_nothing(endpoints: FakeWebhookEndpoints) -> None:
    acct = account("acct-1")
    webhooks.set_billing_webhook(acct, URL)
    with pytest.raises(BadRequest, match="https"):
        webhooks.set_billing_webhook(acct, "ftp://hooks.example.com/b")
    assert webhooks.billing_webhook_url("acct-1") == URL


def hook_notices(notices: FakeNotices) -> dict[str, Notice]:
    found = {}
    for owner, notice_id in notices.items:
        notice = notices.get(owner, notice_id)
        assert notice is not None
        found[owner] = notice
    return found


def test_an_event_is_recorded_for_the_endpoint_and_queued_once(
    endpoints: FakeWebhookEndpoints, notices: FakeNotices, queues: FakeQueues, clock: FakeClock
) -> None:
    acct = account("acct-1")
    endpoints.put("acct-1", URL, "whsec_x", clock.now)
    webhooks.emit(acct, EventType.PAYMENT_SUCCEEDED, "pay-1", {"amount": "5.00"})
    webhooks.emit(acct, EventType.PAYMENT_SUCCEEDED, "pay-1", {"amount": "5.00"})  # a retried worker

    event_id = event_id_for(EventType.PAYMENT_SUCCEEDED, "pay-1")
    assert queues.notices == [{"type": "deliver", "owner": "hook#acct-1", "id": event_id}]
    notice = hook_notices(notices)["hook#acct-1"]
    assert (notice.event_id, notice.event_type, notice.account_id) == (event_id, "payment.succeeded", "acct-1")
    assert notice.data == {"amount": "5.00"} and notice.webhook_status == "pending"


def test_no_endpoint_no_event(notices: FakeNotices, queues: FakeQueues) -> None:
    webhooks.emit(account("acct-1"), EventType.BALANCE_LOW, "k", {})
    assert notices.items == {} and queues.notices == []


def test_a_client_on_its_own_billing_also_tells_its_agency_of_its_troubles(
    endpoints: FakeWebhookEndpoints, notices: FakeNotices, queues: FakeQueues, clock: FakeClock
) -> None:
    client = account("client-1", agency_id="agency-1", billing=Billing.OWN)
    shared = account("client-2", agency_id="agency-1", billing=Billing.AGENCY)
    for owner in ("client-1", "client-2", "agency-1"):
        endpoints.put(owner, URL, "whsec_x", clock.now)

    webhooks.emit(client, EventType.PAYMENT_FAILED, "pay-9", {})
    assert set(hook_notices(notices)) == {"hook#client-1", "hook#agency-1"}
    assert hook_notices(notices)["hook#agency-1"].account_id == "client-1"  # whose event it is

    notices.items.clear()
    webhooks.emit(client, EventType.PAYMENT_SUCCEEDED, "pay-10", {})  # not a trouble: its own webhook only
    assert set(hook_notices(notices)) == {"hook#client-1"}

    notices.items.clear()
    webhooks.emit(shared, EventType.PAYMENT_FAILED, "pay-11", {})  # billed by the agency: no copy
    assert set(hook_notices(notices)) == {"hook#client-2"}

    notices.items.clear()
    agency = account("agency-1")
    webhooks.emit(client, EventType.BALANCE_PAST_DUE, "due-1", {}, agency=agency)
    assert set(hook_notices(notices)) == {"hook#client-1", "hook#agency-1"}
    assert len(queues.notices) == 6


class FlakyNotices(FakeNotices):
    """Fails its first `failures` creates with `error`, then records as the table does."""

    def __init__(self, error: Exception, failures: int) -> None:
        super().__init__()
        self.error, self.failures, self.calls = error, failures, 0

    def record_event(self, *args: Any, **kwargs: Any) -> bool:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return super().record_event(*args, **kwargs)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)  # what emit backs off with
    return slept


def with_notices(notices: FakeNotices, endpoints: FakeWebhookEndpoints, queues: FakeQueues) -> Any:
    return bind(notices=notices, webhook_endpoints=endpoints, queues=queues)


def test_a_transient_storage_error_is_tried_again(
    endpoints: FakeWebhookEndpoints, queues: FakeQueues, clock: FakeClock, no_backoff: list[float]
) -> None:
    flaky = FlakyNotices(ConnectionError("connection reset"), failures=2)
    endpoints.put("acct-1", URL, "whsec_x", clock.now)
    with with_notices(flaky, endpoints, queues):
        webhooks.emit(account("acct-1"), EventType.BALANCE_LOW, "k1", {"balance": "1.00"})
    assert flaky.calls == 3 and len(no_backoff) == 2
    assert all(0 <= s <= 0.05 * 2**n for n, s in enumerate(no_backoff, start=1))  # jittered, growing cap
    assert [m["owner"] for m in queues.notices] == ["hook#acct-1"]
    assert len(flaky.items) == 1


def test_an_event_that_cannot_be_recorded_is_given_up_without_raising(
    endpoints: FakeWebhookEndpoints, queues: FakeQueues, clock: FakeClock, no_backoff: list[float]
) -> None:
    endpoints.put("acct-1", URL, "whsec_x", clock.now)
    always = FlakyNotices(ConnectionError("down"), failures=100)
    with with_notices(always, endpoints, queues):
        webhooks.emit(account("acct-1"), EventType.BALANCE_LOW, "k1", {})
    assert always.calls == webhooks.EMIT_ATTEMPTS and len(no_backoff) == webhooks.EMIT_ATTEMPTS - 1

    permanent = FlakyNotices(ValueError("a bug, not the weather"), failures=100)
    with with_notices(permanent, endpoints, queues):
        webhooks.emit(account("acct-1"), EventType.BALANCE_LOW, "k2", {})
    assert permanent.calls == 1  # not transient: not tried again
    assert queues.notices == []


# -- notice_dispatch -------------------------------------------------------------------------------------


class DownQueues(FakeQueues):
    def send_notices(self, messages: Any) -> None:
        raise ConnectionError("SQS unreachable")


def test_dispatch_queues_one_delivery_per_notice_and_nothing_for_none(queues: FakeQueues) -> None:
    dispatch_notices([])
    assert queues.notices == []
    watch = Watch("ua_1", 2, AlertScope.ACCOUNT, None, Measure.COUNT, AlertPeriod.DAY, 5)
    firing = Firing("owner-1", watch, "acct-1", window_of(AlertPeriod.DAY, date(2026, 3, 1)), 5)
    dispatch_firings([firing])
    dispatch_notices([("hook#a", "evt_1")])
    assert queues.notices == [
        {"type": "deliver", "owner": "alert#ua_1", "id": "r000002#2026-03-01#acct-1"},
        {"type": "deliver", "owner": "hook#a", "id": "evt_1"},
    ]
    assert json.dumps(queues.notices)  # what goes to SQS is plain JSON


def test_a_queue_that_is_down_leaves_the_notices_to_the_redrive() -> None:
    with bind(queues=DownQueues()):
        dispatch_notices([("hook#a", "evt_1")])  # logged, not raised: the notice is written and waits
