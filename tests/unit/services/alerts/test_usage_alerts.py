"""services/usage_alerts.py on fakes: an account's and an agency's alerts, who may set them, the
rules of a definition (400s that change nothing), at most 50 an owner and 10 recipients, the
webhook secret shown once, revisions and arming, and retries when the owner's watch moved."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.alerts_repo import WatchMoved
from chalicelib.domain.access import Principal, Role
from chalicelib.domain.accounts import AccountKind, Billing
from chalicelib.domain.alerts import MAX_ALERTS_PER_OWNER, AlertPeriod, Firing, UsageAlert, Watch, window_of
from chalicelib.services import usage_alerts
from chalicelib.services.errors import BadRequest, Conflict, Forbidden, NotFound
from tests.fakes.accounts import FakeAccounts
from tests.fakes.alerts import FakeAlerts, FakeNotices
from tests.fakes.outside import FakeClock

from .conftest import account, bind

URL = "http://127.0.0.1:8080/hook"
pytestmark = pytest.mark.usefixtures("bound")


def admin(account_id: str) -> Principal:
    return Principal(f"admin@{account_id}", account_id, Role.ADMIN)


def viewer(account_id: str) -> Principal:
    return Principal(f"viewer@{account_id}", account_id, Role.VIEWER)


def body(**changes: Any) -> dict[str, Any]:
    given: dict[str, Any] = {
        "name": "Calls this month",
        "category": "call_minutes",
        "measure": "quantity",
        "period": "month",
        "threshold": "500",
        "recipients": ["ops@example.com"],
    }
    given.update(changes)
    return {k: v for k, v in given.items() if v is not ...}


@pytest.fixture(autouse=True)
def owners(accounts: FakeAccounts) -> FakeAccounts:
    accounts.save(account("acct-1"))
    accounts.save(account("acct-2"))
    accounts.save(account("ag-1", kind=AccountKind.AGENCY, currency="EUR", time_zone="Europe/Paris"))
    accounts.save(account("sub-1", agency_id="ag-1", billing=Billing.AGENCY))
    return accounts


def watch_ids(accounts: FakeAccounts, owner_id: str) -> list[tuple[str, int]]:
    owner = accounts.get(owner_id)
    assert owner is not None
    return [(w.alert_id, w.revision) for w in owner.alert_watch]


def create(owner_id: str = "acct-1", *, agency: bool = False, **changes: Any) -> dict[str, Any]:
    return usage_alerts.create_alert(admin(owner_id), owner_id, body(**changes), agency=agency)


# -- creating -------------------------------------------------------------------------------------------


def test_an_account_alert_is_stored_watched_and_armed(
    owners: FakeAccounts, alerts: FakeAlerts, notices: FakeNotices, clock: FakeClock
) -> None:
    view = create()
    assert view["id"].startswith("ua_") and view["owner_id"] == "acct-1"
    assert {k: view[k] for k in ("scope", "each_account", "category", "measure", "period", "threshold")} == {
        "scope": "account",
        "each_account": False,
        "category": "call_minutes",
        "measure": "quantity",
        "period": "month",
        "threshold": "500",
    }
    assert (view["currency"], view["time_zone"], view["recipients"]) == (None, "UTC", ["ops@example.com"])
    assert (view["webhook_url"], view["enabled"], view["revision"]) == (None, True, 1)
    assert view["created_at"] == view["updated_at"] == "2026-03-15T12:00:00.000000Z"
    assert "webhook_secret" not in view

    stored = alerts.get("acct-1", view["id"])
    assert stored is not None and stored.alert.threshold == 500_000_000  # micro-units of a quantity
    assert alerts.records[("acct-1", view["id"])].created_by == "admin@acct-1"
    assert watch_ids(owners, "acct-1") == [(view["id"], 1)]
    arm = notices.get(f"arm#{view['id']}", "r000001")
    assert arm is not None and arm.data == {"owner_id": "acct-1", "revision": 1} and arm.pending


def test_a_cost_alert_is_in_the_owners_currency() -> None:
    view = create(measure="cost", category="total", threshold="25.50")
    assert (view["currency"], view["threshold"], view["category"]) == ("USD", "25.50", "total")


def test_the_webhook_secret_is_answered_once(owners: FakeAccounts, alerts: FakeAlerts) -> None:
    view = create(webhook_url=URL, recipients=[])
    secret = view["webhook_secret"]
    assert secret.startswith("whsec_") and view["webhook_url"] == URL
    stored = alerts.get("acct-1", view["id"])
    assert stored is not None and stored.webhook_secret == secret
    again = usage_alerts.get_alert(admin("acct-1"), "acct-1", view["id"], agency=False)
    assert "webhook_secret" not in again and again["webhook_url"] == URL
    listed = usage_alerts.list_alerts(admin("acct-1"), "acct-1", {}, 10, agency=False)
    assert all("webhook_secret" not in item for item in listed["items"])


def test_a_disabled_alert_is_not_armed(owners: FakeAccounts, notices: FakeNotices) -> None:
    view = create(enabled=False)
    assert view["enabled"] is False and notices.items == {}
    assert watch_ids(owners, "acct-1") == [(view["id"], 1)]  # watched all the same: enabling it needs no new id


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["not", "an", "object"], "JSON object"),
        (body(category="total", measure="quantity"), "quantity needs one category"),
        (body(recipients=[]), "at least one email address, or a webhook_url"),
        (body(threshold="0"), "greater than zero"),
        (body(measure="count", threshold="1.5"), "whole number"),
        (body(threshold="abc"), "threshold"),
        (body(period="fortnight"), "period"),
        (body(recipients=[f"r{i}@example.com" for i in range(11)]), "recipients"),
        (body(recipients=["not-an-address"]), "not an email address"),
        (body(recipients=["a@example.com", "A@example.com"]), "listed twice"),
        (body(name=""), "name"),
        (body(name="x" * 101), "name"),
        (body(webhook_url="ftp://hooks.example.com/a"), "https"),
        (body(each_account=True), "each_account"),
        (body(colour="red"), "colour"),
        (body(name=...), "name"),
    ],
)
def test_a_definition_that_breaks_a_rule_is_a_400_that_changes_nothing(
    owners: FakeAccounts, alerts: FakeAlerts, notices: FakeNotices, given: object, message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        usage_alerts.create_alert(admin("acct-1"), "acct-1", given, agency=False)
    assert alerts.records == {} and notices.items == {} and watch_ids(owners, "acct-1") == []


def test_ten_recipients_are_allowed() -> None:
    view = create(recipients=[f"r{i}@example.com" for i in range(10)])
    assert len(view["recipients"]) == 10


def test_an_owner_has_at_most_fifty_alerts(owners: FakeAccounts, alerts: FakeAlerts) -> None:
    made = [create(name=f"alert {i}")["id"] for i in range(MAX_ALERTS_PER_OWNER)]
    with pytest.raises(BadRequest, match="at most 50 usage alerts"):
        create(name="one too many")
    assert len(alerts.records) == MAX_ALERTS_PER_OWNER == len(watch_ids(owners, "acct-1"))
    usage_alerts.delete_alert(admin("acct-1"), "acct-1", made[0], agency=False)
    create(name="room again")
    assert len(alerts.records) == MAX_ALERTS_PER_OWNER
    create("acct-2", name="another owner's count is its own")


# -- who -----------------------------------------------------------------------------------------------


def test_only_an_admin_within_reach_changes_alerts_and_anyone_within_reach_reads_them(owners: FakeAccounts) -> None:
    view = create()
    with pytest.raises(Forbidden, match="admin"):
        usage_alerts.create_alert(viewer("acct-1"), "acct-1", body(), agency=False)
    with pytest.raises(NotFound):
        usage_alerts.create_alert(admin("acct-2"), "acct-1", body(), agency=False)
    with pytest.raises(NotFound):
        usage_alerts.get_alert(admin("acct-2"), "acct-1", view["id"], agency=False)
    with pytest.raises(Forbidden):
        usage_alerts.delete_alert(viewer("acct-1"), "acct-1", view["id"], agency=False)
    with pytest.raises(BadRequest, match="account id"):
        usage_alerts.list_alerts(admin("acct-1"), "bad id!", {}, 10, agency=False)
    assert usage_alerts.get_alert(viewer("acct-1"), "acct-1", view["id"], agency=False)["id"] == view["id"]
    # The agency's admin sets its sub-account's own alerts.
    sub = usage_alerts.create_alert(admin("ag-1"), "sub-1", body(), agency=False)
    assert sub["owner_id"] == "sub-1"
    assert usage_alerts.get_alert(viewer("sub-1"), "sub-1", sub["id"], agency=False)["id"] == sub["id"]


def test_an_agencys_alerts_are_its_own_users_business(owners: FakeAccounts) -> None:
    total = create("ag-1", agency=True, measure="cost", category="total", threshold="100")
    assert total["id"].startswith("ug_")
    assert (total["scope"], total["each_account"], total["currency"], total["time_zone"]) == (
        "agency",
        False,
        "EUR",
        "Europe/Paris",
    )
    each = create("ag-1", agency=True, each_account=True)
    assert (each["scope"], each["each_account"]) == ("agency", True)
    assert watch_ids(owners, "ag-1") == [(total["id"], 1), (each["id"], 1)]

    listed = usage_alerts.list_alerts(viewer("ag-1"), "ag-1", {}, 10, agency=True)
    assert [i["id"] for i in listed["items"]] == sorted([total["id"], each["id"]])
    with pytest.raises(Forbidden, match="admin"):
        usage_alerts.create_alert(viewer("ag-1"), "ag-1", body(), agency=True)
    with pytest.raises(NotFound, match="'ag-1' not found"):  # a sub-account's users do not see the agency's
        usage_alerts.list_alerts(admin("sub-1"), "ag-1", {}, 10, agency=True)
    with pytest.raises(NotFound, match="agency"):  # an account is no agency
        create("acct-1", agency=True)
    # An agency's alert is not one of its account alerts, and the other way round.
    with pytest.raises(NotFound):
        usage_alerts.get_alert(admin("ag-1"), "ag-1", total["id"], agency=False)
    own = create("ag-1")
    with pytest.raises(NotFound):
        usage_alerts.get_alert(admin("ag-1"), "ag-1", own["id"], agency=True)


def test_a_service_token_reads_but_does_not_set_alerts(owners: FakeAccounts) -> None:
    service = Principal("platform", "platform", Role.SERVICE)
    ag = create("ag-1", agency=True)
    assert usage_alerts.get_alert(service, "ag-1", ag["id"], agency=True)["id"] == ag["id"]
    with pytest.raises(Forbidden, match="service token"):
        usage_alerts.create_alert(service, "ag-1", body(), agency=True)


@pytest.mark.parametrize("alert_id", ["ua_123", "ua_" + "g" * 20, "xx_" + "0" * 20, "ua_" + "0" * 20])
def test_an_id_that_is_not_one_of_ours_is_not_found(alert_id: str) -> None:
    with pytest.raises(NotFound, match="not found"):
        usage_alerts.get_alert(admin("acct-1"), "acct-1", alert_id, agency=False)


# -- changing ------------------------------------------------------------------------------------------


def update(alert_id: str, owner_id: str = "acct-1", *, agency: bool = False, **given: Any) -> dict[str, Any]:
    return usage_alerts.update_alert(admin(owner_id), owner_id, alert_id, given, agency=agency)


def test_a_change_of_what_is_watched_is_a_new_revision_armed_anew(
    owners: FakeAccounts, notices: FakeNotices, clock: FakeClock
) -> None:
    view = create()
    clock.advance(minutes=1)
    renamed = update(view["id"], name="Renamed", recipients=["new@example.com"])
    assert (renamed["name"], renamed["recipients"], renamed["revision"]) == ("Renamed", ["new@example.com"], 1)
    assert renamed["updated_at"] == "2026-03-15T12:01:00.000000Z" and renamed["created_at"] == view["created_at"]
    assert watch_ids(owners, "acct-1") == [(view["id"], 1)]

    raised = update(view["id"], threshold="750")
    assert (raised["threshold"], raised["revision"]) == ("750", 2)
    assert watch_ids(owners, "acct-1") == [(view["id"], 2)]
    assert notices.get(f"arm#{view['id']}", "r000002") is not None

    moved = update(view["id"], period="day", category="text_messages")
    assert (moved["period"], moved["category"], moved["revision"]) == ("day", "text_messages", 3)


def test_a_new_measure_needs_its_threshold_again() -> None:
    view = create()
    with pytest.raises(BadRequest, match="give the threshold again"):
        update(view["id"], measure="count")
    changed = update(view["id"], measure="count", threshold="40")
    assert (changed["measure"], changed["threshold"], changed["revision"]) == ("count", "40", 2)
    with pytest.raises(BadRequest, match="quantity needs one category"):
        update(view["id"], measure="quantity", category="total", threshold="5")
    with pytest.raises(BadRequest, match="may not be null"):
        update(view["id"], name=None)
    with pytest.raises(BadRequest, match="JSON object"):
        usage_alerts.update_alert(admin("acct-1"), "acct-1", view["id"], "x", agency=False)


def test_switching_an_alert_back_on_starts_it_afresh(owners: FakeAccounts, notices: FakeNotices) -> None:
    view = create()
    off = update(view["id"], enabled=False)
    assert (off["enabled"], off["revision"]) == (False, 1)
    assert notices.get(f"arm#{view['id']}", "r000002") is None
    on = update(view["id"], enabled=True)
    assert (on["enabled"], on["revision"]) == (True, 2)
    assert notices.get(f"arm#{view['id']}", "r000002") is not None


def test_a_new_url_answers_a_new_secret_and_no_url_keeps_none(alerts: FakeAlerts) -> None:
    view = create(webhook_url=URL)
    first = view["webhook_secret"]
    same = update(view["id"], name="same url")
    assert "webhook_secret" not in same
    stored = alerts.get("acct-1", view["id"])
    assert stored is not None and stored.webhook_secret == first  # kept

    moved = update(view["id"], webhook_url="http://127.0.0.1:8081/other")
    assert moved["webhook_secret"] not in (None, first)
    removed = update(view["id"], webhook_url=None)
    assert removed["webhook_url"] is None and "webhook_secret" not in removed
    stored = alerts.get("acct-1", view["id"])
    assert stored is not None and stored.webhook_secret is None
    with pytest.raises(BadRequest, match="at least one email address"):
        update(view["id"], recipients=[])


def test_changing_or_deleting_an_alert_that_is_gone_is_not_found(owners: FakeAccounts, alerts: FakeAlerts) -> None:
    view = create()
    usage_alerts.delete_alert(admin("acct-1"), "acct-1", view["id"], agency=False)
    assert alerts.records == {} and watch_ids(owners, "acct-1") == []
    with pytest.raises(NotFound):
        update(view["id"], name="x")
    with pytest.raises(NotFound):
        usage_alerts.delete_alert(admin("acct-1"), "acct-1", view["id"], agency=False)


def test_an_alert_its_owners_watch_does_not_list_is_not_found(owners: FakeAccounts) -> None:
    view = create()
    owners.set_watch("acct-1", None)  # the definition is there, the watch is not (never written together)
    with pytest.raises(NotFound, match="not found"):
        update(view["id"], name="x")


# -- listing -------------------------------------------------------------------------------------------


def test_alerts_are_listed_by_id_in_pages_with_a_cursor_bound_to_the_list() -> None:
    made = sorted(create(name=f"a{i}")["id"] for i in range(5))
    create("ag-1", agency=True)
    seen: list[str] = []
    params: dict[str, str] = {}
    while True:
        page = usage_alerts.list_alerts(admin("acct-1"), "acct-1", params, 2, agency=False)
        assert page["owner_id"] == "acct-1" and len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"cursor": page["next_cursor"]}
    assert seen == made
    first = usage_alerts.list_alerts(admin("acct-1"), "acct-1", {}, 2, agency=False)
    with pytest.raises(BadRequest):  # another owner's list
        usage_alerts.list_alerts(admin("acct-2"), "acct-2", {"cursor": first["next_cursor"]}, 2, agency=False)
    with pytest.raises(BadRequest):
        usage_alerts.list_alerts(admin("acct-1"), "acct-1", {"cursor": "garbage"}, 2, agency=False)


def test_firings_are_listed_newest_first_with_their_deliveries(notices: FakeNotices, clock: FakeClock) -> None:
    from chalicelib.adapters.alerts_repo import FiringFacts

    view = create(measure="cost", category="total", threshold="10")
    stored_watch = Watch.from_row([view["id"], 1, "account", "total", "cost", "month", 10_000_000, 1])
    for day in (1, 2, 3):
        window = window_of(AlertPeriod.MONTH, clock.now.date().replace(month=day))
        notices.record_firing(
            Firing("acct-1", stored_watch, "acct-1", window, 12_500_000), FiringFacts("USD", "UTC"), clock.now
        )
    newest = max(n for o, n in notices.items if o == f"alert#{view['id']}")
    notices.email_done(f"alert#{view['id']}", newest, "sent", ("ops@example.com",), clock.now, None)

    page = usage_alerts.list_firings(viewer("acct-1"), "acct-1", view["id"], {}, 2, agency=False)
    assert page["alert_id"] == view["id"] and len(page["items"]) == 2
    top = page["items"][0]
    assert (top["period_start"], top["period_end"], top["threshold"], top["value"], top["currency"]) == (
        "2026-03-01",
        "2026-03-31",
        "10.00",
        "12.50",
        "USD",
    )
    assert top["email"] == {
        "status": "sent",
        "recipients": ["ops@example.com"],
        "at": "2026-03-15T12:00:00.000000Z",
        "error": None,
    }
    assert top["webhook"] == {"status": "pending", "url": None, "attempts": [], "next_attempt_at": None}
    assert (top["revision"], top["account_id"], top["fired_at"]) == (1, "acct-1", "2026-03-15T12:00:00.000000Z")
    rest = usage_alerts.list_firings(
        viewer("acct-1"), "acct-1", view["id"], {"cursor": page["next_cursor"]}, 2, agency=False
    )
    assert [i["period_start"] for i in rest["items"]] == ["2026-01-01"] and rest["next_cursor"] is None
    with pytest.raises(NotFound):
        usage_alerts.list_firings(viewer("acct-2"), "acct-2", view["id"], {}, 2, agency=False)


# -- racing writers -------------------------------------------------------------------------------------


class RacingAlerts(FakeAlerts):
    """Before each of its first `races` writes, another request adds an alert of the same owner."""

    def __init__(self, accounts: FakeAccounts, races: int, first: int = 1) -> None:
        super().__init__(accounts)
        self.races, self.attempts, self.first = races, 0, first
        self.racers: list[str] = []

    def _race(self, owner_id: str) -> None:
        self.attempts += 1
        if self.attempts > self.races:
            return
        owner = self.accounts.get(owner_id)
        assert owner is not None
        before = owner.alert_watch
        other = racer(owner_id, f"ua_{self.first + len(self.racers):020x}")
        super().save(other, None, None, before, (*before, other.watch), new=True)
        self.racers.append(other.alert_id)

    def save(
        self,
        alert: UsageAlert,
        secret: str | None,
        created_by: str | None,
        before: Sequence[Watch],
        after: Sequence[Watch],
        *,
        new: bool,
    ) -> None:
        self._race(alert.owner_id)
        super().save(alert, secret, created_by, before, after, new=new)

    def delete(self, owner_id: str, alert_id: str, before: Sequence[Watch], after: Sequence[Watch]) -> None:
        self._race(owner_id)
        super().delete(owner_id, alert_id, before, after)


def racer(owner_id: str, alert_id: str) -> UsageAlert:
    from chalicelib.domain.alerts import AlertScope, Measure

    from .conftest import CREATED

    return UsageAlert(
        owner_id, alert_id, AlertScope.ACCOUNT, "racer", None, Measure.COUNT, AlertPeriod.DAY, 5,
        ("r@example.com",), None, True, 1, CREATED, CREATED,
    )  # fmt: skip


def racing(owners: FakeAccounts, races: int, notices: FakeNotices, first: int = 1) -> tuple[RacingAlerts, Any]:
    fake = RacingAlerts(owners, races, first)
    return fake, bind(accounts=owners, alerts=fake, notices=notices)


def test_a_write_that_lost_a_race_reads_the_watch_again_and_keeps_both(
    owners: FakeAccounts, notices: FakeNotices
) -> None:
    fake, bound = racing(owners, 2, notices)
    with bound:
        view = create()
    assert fake.attempts == 3
    assert sorted(a for a, _ in watch_ids(owners, "acct-1")) == sorted([view["id"], *fake.racers])
    assert len(fake.racers) == 2


def test_a_write_that_keeps_losing_is_a_409(owners: FakeAccounts, notices: FakeNotices) -> None:
    fake, bound = racing(owners, 99, notices)
    with bound, pytest.raises(Conflict, match="at the same time"):
        create()
    assert fake.attempts == usage_alerts.WRITE_ATTEMPTS
    assert [a for a, _ in watch_ids(owners, "acct-1")] == fake.racers  # only the racers' went in
    assert len(fake.racers) == usage_alerts.WRITE_ATTEMPTS


def test_a_delete_that_lost_a_race_is_tried_again(
    owners: FakeAccounts, notices: FakeNotices, alerts: FakeAlerts
) -> None:
    view = create()
    fake, bound = racing(owners, 1, notices)
    fake.records = alerts.records
    with bound:
        usage_alerts.delete_alert(admin("acct-1"), "acct-1", view["id"], agency=False)
    assert watch_ids(owners, "acct-1") == [(fake.racers[0], 1)]

    fake, bound = racing(owners, 99, notices, first=100)
    fake.records = alerts.records
    with bound, pytest.raises(Conflict):
        usage_alerts.delete_alert(admin("acct-1"), "acct-1", f"ua_{1:020x}", agency=False)
    assert alerts.get("acct-1", f"ua_{1:020x}") is not None


def test_an_owner_removed_while_its_alert_was_written_is_not_found(owners: FakeAccounts, notices: FakeNotices) -> None:
    class Vanishing(FakeAlerts):
        def save(self, *args: Any, **kwargs: Any) -> None:
            owners.items.pop("acct-1", None)
            raise WatchMoved("acct-1")

    with bind(accounts=owners, alerts=Vanishing(owners), notices=notices), pytest.raises(NotFound, match="acct-1"):
        create()


def test_an_alert_stands_when_its_arming_cannot_be_recorded(owners: FakeAccounts, alerts: FakeAlerts) -> None:
    class DownNotices(FakeNotices):
        def record_arm(self, *args: Any) -> bool:
            raise ConnectionError("DynamoDB unreachable")

    with bind(accounts=owners, alerts=alerts, notices=DownNotices()):
        view = create()
    assert alerts.get("acct-1", view["id"]) is not None


# -- the invariant --------------------------------------------------------------------------------------

operations = st.lists(
    st.tuples(st.sampled_from(["create", "rename", "threshold", "toggle", "delete"]), st.integers(0, 4)),
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_the_owners_watch_is_always_its_alerts(ops: list[tuple[str, int]]) -> None:
    accounts = FakeAccounts([account("acct-1")])
    alerts = FakeAlerts(accounts)
    with bind(accounts=accounts, alerts=alerts, notices=FakeNotices(), clock=FakeClock()):
        for op, which in ops:
            ids = sorted(i for _, i in alerts.records)
            if op == "create":
                create(name=f"a{which}")
                continue
            if not ids:
                continue
            alert_id = ids[which % len(ids)]
            if op == "delete":
                usage_alerts.delete_alert(admin("acct-1"), "acct-1", alert_id, agency=False)
            elif op == "rename":
                update(alert_id, name=f"n{which}")
            elif op == "threshold":
                update(alert_id, threshold=str(which + 1))
            else:
                stored = alerts.get("acct-1", alert_id)
                assert stored is not None
                update(alert_id, enabled=not stored.alert.enabled)
        owner = accounts.get("acct-1")
        assert owner is not None
        assert sorted(owner.alert_watch, key=lambda w: w.alert_id) == sorted(
            (r.alert.watch for r in alerts.records.values()), key=lambda w: w.alert_id
        )
