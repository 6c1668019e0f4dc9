"""The cross-tenant matrix: every endpoint against every kind of caller and target.

Tenants: agency A with sub-accounts A1 (shared billing) and A2 (own balance),
agency B with sub-account B1, and a standalone account S. Outside a caller's reach
an account does not exist (404); within reach, a missing privilege is 403; a
caller that is not authenticated is 401.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from chalice.test import Client

from chalicelib.domain.access import Principal, Role
from chalicelib.services.billing_settings import put_billing_settings
from chalicelib.services.payments import add_funds
from chalicelib.services.statements import request_statement
from tests.conftest import TEST_SECRET
from tests.integration.http_helpers import (
    Headers,
    assert_error,
    bearer,
    charge,
    credit,
    make_client,
    provision,
    send,
    service,
    token,
    usage_event,
    viewer,
)


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # with {id}
    kind: str  # read | agency_read | set_rates | provision | post_usage
    success: int = 200
    accept: str | None = None  # an Accept header the endpoint needs (binary responses)

    fresh: bool = False  # {aid}/{gid} name a usage alert made for this call (a DELETE that succeeds)

    def url(self, target: str) -> str:
        # {sid}, {pid}: a statement and a card payment of the target (tenants() makes one of each
        # per own-billing tenant); {aid}, {gid}: a usage alert of the account, of the agency.
        return self.path.format(
            id=target,
            sid=STATEMENT_IDS.get(target, "st_" + "0" * 24),
            pid=PAYMENT_IDS.get(target, "pay_missing"),
            aid=fresh_alert(target, agency=False) if self.fresh else ALERT_IDS.get(target, "ua_" + "0" * 20),
            gid=fresh_alert(target, agency=True) if self.fresh else AGENCY_ALERT_IDS.get(target, "ug_" + "0" * 20),
        )


STATEMENT_IDS: dict[str, str] = {}
PAYMENT_IDS: dict[str, str] = {}
ALERT_IDS: dict[str, str] = {}  # an account's usage alert, of every tenant
AGENCY_ALERT_IDS: dict[str, str] = {}  # an agency's, of each agency
ALERT_BODY = {"name": "Tenant alert", "category": "call_minutes", "measure": "count", "period": "month",
              "threshold": "1000", "recipients": ["t@example.com"]}  # fmt: skip


def fresh_alert(target: str, *, agency: bool) -> str:
    """A new usage alert of the target, made by its own admin (a placeholder id where it cannot have one)."""
    from chalicelib.services.errors import NotFound
    from chalicelib.services.usage_alerts import create_alert

    placeholder = ("ug_" if agency else "ua_") + "0" * 20
    if agency and target not in AGENCY_ALERT_IDS:
        return placeholder
    owner = Principal(f"admin-of-{target}", target, Role.ADMIN)
    try:
        return str(create_alert(owner, target, ALERT_BODY, agency=agency)["id"])
    except NotFound:  # no such account
        return placeholder


ENDPOINTS = [
    Endpoint("get_account", "GET", "/accounts/{id}", "read"),
    Endpoint("get_balance", "GET", "/accounts/{id}/balance", "read"),
    Endpoint("get_rates", "GET", "/accounts/{id}/rates", "read"),
    Endpoint("account_logs", "GET", "/accounts/{id}/logs", "read"),
    Endpoint("account_logs_csv", "GET", "/accounts/{id}/logs?format=csv", "read"),
    Endpoint("agency_logs", "GET", "/agencies/{id}/logs", "agency_read"),
    Endpoint("agency_logs_csv", "GET", "/agencies/{id}/logs?format=csv", "agency_read"),
    Endpoint("account_usage", "GET", "/accounts/{id}/usage?group_by=month", "read"),
    Endpoint("account_usage_csv", "GET", "/accounts/{id}/usage?format=csv", "read"),
    Endpoint("agency_usage", "GET", "/agencies/{id}/usage", "agency_read"),
    Endpoint("agency_usage_csv", "GET", "/agencies/{id}/usage?format=csv", "agency_read"),
    Endpoint("agency_dashboard", "GET", "/agencies/{id}/dashboard", "agency_read"),
    Endpoint("agency_accounts", "GET", "/agencies/{id}/accounts", "agency_read"),
    Endpoint("agency_accounts_search", "GET", "/agencies/{id}/accounts?q=tenant", "agency_read"),
    Endpoint("get_billing_settings", "GET", "/accounts/{id}/billing-settings", "read"),
    Endpoint("list_payments", "GET", "/accounts/{id}/payments", "read"),
    Endpoint("put_billing_settings", "PUT", "/accounts/{id}/billing-settings", "admin"),
    Endpoint("add_funds", "POST", "/accounts/{id}/payments", "admin", 201),
    Endpoint("payment_receipt", "GET", "/accounts/{id}/payments/{pid}/receipt", "read"),
    Endpoint(
        "payment_receipt_as_pdf", "GET", "/accounts/{id}/payments/{pid}/receipt", "read", accept="application/pdf"
    ),
    Endpoint(
        "payment_receipt_pdf", "GET", "/accounts/{id}/payments/{pid}/receipt/pdf", "read", accept="application/pdf"
    ),
    Endpoint("put_rates", "PUT", "/accounts/{id}/rates", "set_rates"),
    Endpoint("put_account", "PUT", "/accounts/{id}", "provision"),
    Endpoint("post_usage_events", "POST", "/usage-events", "post_usage", 202),
    Endpoint("list_statements", "GET", "/accounts/{id}/statements", "read"),
    Endpoint("get_statement", "GET", "/accounts/{id}/statements/{sid}", "read"),
    Endpoint("statement_html", "GET", "/accounts/{id}/statements/{sid}/html", "read"),
    Endpoint("statement_pdf", "GET", "/accounts/{id}/statements/{sid}/pdf", "read", accept="application/pdf"),
    Endpoint("get_statement_schedule", "GET", "/accounts/{id}/statement-schedule", "read"),
    Endpoint("send_statement", "POST", "/accounts/{id}/statements", "admin", 202),
    Endpoint("put_statement_schedule", "PUT", "/accounts/{id}/statement-schedule", "admin"),
    Endpoint("list_usage_alerts", "GET", "/accounts/{id}/usage-alerts", "read"),
    Endpoint("create_usage_alert", "POST", "/accounts/{id}/usage-alerts", "admin", 201),
    Endpoint("get_usage_alert", "GET", "/accounts/{id}/usage-alerts/{aid}", "read"),
    Endpoint("update_usage_alert", "PUT", "/accounts/{id}/usage-alerts/{aid}", "admin"),
    Endpoint("delete_usage_alert", "DELETE", "/accounts/{id}/usage-alerts/{aid}", "admin", 204, fresh=True),
    Endpoint("usage_alert_firings", "GET", "/accounts/{id}/usage-alerts/{aid}/firings", "read"),
    Endpoint("list_agency_usage_alerts", "GET", "/agencies/{id}/usage-alerts", "agency_read"),
    Endpoint("create_agency_usage_alert", "POST", "/agencies/{id}/usage-alerts", "agency_admin", 201),
    Endpoint("get_agency_usage_alert", "GET", "/agencies/{id}/usage-alerts/{gid}", "agency_read"),
    Endpoint("update_agency_usage_alert", "PUT", "/agencies/{id}/usage-alerts/{gid}", "agency_admin"),
    Endpoint(
        "delete_agency_usage_alert", "DELETE", "/agencies/{id}/usage-alerts/{gid}", "agency_admin", 204, fresh=True
    ),
    Endpoint("agency_usage_alert_firings", "GET", "/agencies/{id}/usage-alerts/{gid}/firings", "agency_read"),
    Endpoint("agency_attention", "GET", "/agencies/{id}/attention", "agency_read"),
]
IDS = ["A", "A1", "A2", "B", "B1", "S"]


@pytest.fixture(scope="module")
def client(aws: Any) -> Client:
    return make_client()


@pytest.fixture(scope="module")
def tenants(client: Client) -> dict[str, str]:
    """Short names -> real account ids, each with a ledger entry so logs are not empty."""
    ids = {name: f"x{name.lower()}" for name in IDS}
    bodies = {
        "A": {"kind": "agency"},
        "A1": {"agency_id": ids["A"], "billing": "agency"},
        "A2": {"agency_id": ids["A"]},
        "B": {"kind": "agency"},
        "B1": {"agency_id": ids["B"]},
        "S": {},
    }
    for name in IDS:
        provision(client, ids[name], name=f"Tenant {name}", **bodies[name])
    charge(
        [credit(ids[name], "10.00", event_id=f"{ids[name]}-rc") for name in IDS]
        + [usage_event(ids[name], event_id=f"{ids[name]}-call-{i}") for name in IDS for i in range(3)]
    )
    STATEMENT_IDS.clear()
    PAYMENT_IDS.clear()
    ALERT_IDS.clear()
    AGENCY_ALERT_IDS.clear()
    from chalicelib.services.usage_alerts import create_alert

    for name in IDS:  # a usage alert of every tenant, and one of each agency
        owner = Principal(f"admin-of-{name}", ids[name], Role.ADMIN)
        ALERT_IDS[ids[name]] = create_alert(owner, ids[name], ALERT_BODY, agency=False)["id"]
        if name in ("A", "B"):
            AGENCY_ALERT_IDS[ids[name]] = create_alert(owner, ids[name], ALERT_BODY, agency=True)["id"]
    for name in IDS:  # a statement and a card payment of every tenant with a balance of its own (A1 shares A's)
        if name != "A1":
            owner = Principal(f"admin-of-{name}", ids[name], Role.ADMIN)
            STATEMENT_IDS[ids[name]] = request_statement(owner, ids[name], body_for_statement())["statement_id"]
            put_billing_settings(owner, ids[name], {"primary_card": "pm_card_visa"})
            paid = add_funds(owner, ids[name], {"amount": "10.00"}, f"cross-tenant-{name}")
            assert paid.status == 201, paid.body
            PAYMENT_IDS[ids[name]] = paid.body["id"]
    return ids


def body_for_statement() -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {"from": (today - timedelta(days=40)).isoformat(), "to": today.isoformat(), "recipients": ["t@example.com"]}


# The same bodies the tenants were provisioned with, so an allowed PUT changes nothing.
def body_for(endpoint: Endpoint, target: str, tenants: dict[str, str]) -> Any:
    if endpoint.kind == "set_rates":
        return {"rates": {}}
    if endpoint.kind == "provision":
        short = next(k for k, v in tenants.items() if v == target)
        extra: dict[str, Any] = {
            "A": {"kind": "agency"},
            "A1": {"agency_id": tenants["A"], "billing": "agency"},
            "A2": {"agency_id": tenants["A"]},
            "B": {"kind": "agency"},
            "B1": {"agency_id": tenants["B"]},
            "S": {},
        }[short]
        return {"name": f"Tenant {short}", **extra}
    if endpoint.kind == "post_usage":
        return {"events": [usage_event(target)]}
    if endpoint.name == "put_billing_settings":
        return {"alert_recipients": []}
    if endpoint.name == "add_funds":
        return {"amount": "10.00"}
    if endpoint.name == "send_statement":
        return body_for_statement()
    if endpoint.name == "put_statement_schedule":
        return {"frequency": "monthly", "recipients": ["t@example.com"]}
    if endpoint.name in ("create_usage_alert", "create_agency_usage_alert"):
        return ALERT_BODY
    if endpoint.name in ("update_usage_alert", "update_agency_usage_alert"):
        return {"name": "Tenant alert"}
    return None


def call(client: Client, endpoint: Endpoint, target: str, headers: Headers, tenants: dict[str, str]) -> Any:
    accept = {"Accept": endpoint.accept} if endpoint.accept and headers else {}
    return send(
        client, endpoint.method, endpoint.url(target), {**headers, **accept}, body_for(endpoint, target, tenants)
    )


# What each kind of endpoint answers, per relationship between caller and target.
OK = "ok"
Expected = dict[str, int | str]


def expect(
    read: int | str,
    agency_read: int | str,
    set_rates: int | str,
    provision: int | str,
    post: int | str,
    admin: int | str,
    agency_admin: int | str = 404,  # an agency's settings (its usage alerts): its own admins
) -> Expected:
    return {
        "read": read,
        "agency_read": agency_read,
        "set_rates": set_rates,
        "provision": provision,
        "post_usage": post,
        "admin": admin,
        "agency_admin": agency_admin,
    }


OUT_OF_REACH = expect(404, 404, 404, 404, 403, 404)
OWN_ACCOUNT = expect(OK, 404, 403, 403, 403, 403)
OWN_ACCOUNT_ADMIN = expect(OK, 404, 403, 403, 403, OK)
OWN_AGENCY = expect(OK, OK, 403, 403, 403, 403, 403)
OWN_AGENCY_ADMIN = expect(OK, OK, 403, 403, 403, OK, OK)

# (case, caller account, caller role, target, expected)
CASES: list[tuple[str, str, Role, str, Expected]] = [
    # Own account.
    ("own viewer", "A1", Role.VIEWER, "A1", OWN_ACCOUNT),
    ("own admin", "A2", Role.ADMIN, "A2", OWN_ACCOUNT_ADMIN),
    ("shared sub admin", "A1", Role.ADMIN, "A1", OWN_ACCOUNT_ADMIN),
    ("standalone admin", "S", Role.ADMIN, "S", OWN_ACCOUNT_ADMIN),
    ("agency viewer, own agency", "A", Role.VIEWER, "A", OWN_AGENCY),
    ("agency admin, own agency", "A", Role.ADMIN, "A", OWN_AGENCY_ADMIN),
    # Sibling sub-accounts.
    ("sibling viewer", "A1", Role.VIEWER, "A2", OUT_OF_REACH),
    ("sibling admin", "A2", Role.ADMIN, "A1", OUT_OF_REACH),
    # Another agency's accounts.
    ("agency admin -> other agency's sub", "A", Role.ADMIN, "B1", OUT_OF_REACH),
    ("agency admin -> other agency", "A", Role.ADMIN, "B", OUT_OF_REACH),
    ("sub viewer -> other agency's sub", "A1", Role.VIEWER, "B1", OUT_OF_REACH),
    ("standalone -> agency sub", "S", Role.ADMIN, "A1", OUT_OF_REACH),
    # An agency reaches its sub-accounts: reads for everyone, rates for its admin.
    ("agency viewer -> its sub", "A", Role.VIEWER, "A1", OWN_ACCOUNT),
    ("agency admin -> its sub", "A", Role.ADMIN, "A2", expect(OK, 404, OK, 403, 403, OK)),
    # A sub-account does not reach its agency.
    ("sub viewer -> its agency", "A1", Role.VIEWER, "A", OUT_OF_REACH),
    ("sub admin -> its agency", "A2", Role.ADMIN, "A", OUT_OF_REACH),
    # The platform's service token reaches everything but admin actions.
    ("service -> sub", "platform", Role.SERVICE, "A1", expect(OK, 404, OK, OK, OK, 403)),
    ("service -> agency", "platform", Role.SERVICE, "B", expect(OK, OK, OK, OK, OK, 403, 403)),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
@pytest.mark.parametrize(
    ("caller", "role", "target", "expected"),
    [pytest.param(c, r, t, e, id=name) for name, c, r, t, e in CASES],
)
def test_matrix(
    client: Client,
    tenants: dict[str, str],
    endpoint: Endpoint,
    caller: str,
    role: Role,
    target: str,
    expected: Expected,
) -> None:
    caller_id = tenants.get(caller, caller)
    response = call(client, endpoint, tenants[target], _auth(caller_id, role), tenants)
    want = expected[endpoint.kind]
    if want == OK and ("{sid}" in endpoint.path or "{pid}" in endpoint.path) and tenants[target] not in STATEMENT_IDS:
        # A shared-billing sub-account has no statements or payments of its own (its agency's cover it).
        assert_error(response, 404, "not_found")
    elif want == OK and endpoint.kind in ("admin", "agency_admin"):
        # Past the access policy: what is left is the account's own state (no card on
        # file yet: 400; shared billing: 422), never 401/403/404.
        assert response.status_code in (endpoint.success, 400, 422), response.body
        if response.status_code != endpoint.success:
            assert assert_error(response, response.status_code)["code"] in ("bad_request", "shared_billing")
    elif want == OK:
        assert response.status_code == endpoint.success, response.body
        if endpoint.name.endswith("_csv"):
            header = response.body.decode().split("\r\n", 1)[0].split(",")
            assert "account_id" in header and "amount" in header
    else:
        assert isinstance(want, int)
        error = assert_error(response, want)
        assert error["code"] == {403: "forbidden", 404: "not_found"}[want]
        # A 404 never says more than "not found": no hint the account exists.
        if want == 404:
            assert "not found" in error["message"]


def _auth(account_id: str, role: Role) -> Headers:
    return bearer(token(account_id, role))


def test_reads_show_only_the_targets_data(client: Client, tenants: dict[str, str]) -> None:
    """Allowed reads return the target's data, never the caller's or a neighbour's."""
    a, a1, a2 = tenants["A"], tenants["A1"], tenants["A2"]
    rows = send(client, "GET", f"/accounts/{a1}/logs", viewer(a)).json_body["items"]
    assert {r["account_id"] for r in rows} == {a1}
    rows = send(client, "GET", f"/agencies/{a}/logs?limit=500", viewer(a)).json_body["items"]
    assert {r["account_id"] for r in rows} == {a, a1, a2}
    assert send(client, "GET", f"/accounts/{a2}/balance", viewer(a)).json_body["billing_account_id"] == a2


def test_a_shared_clients_users_see_that_the_agency_bills_them_not_the_agencys_money(
    client: Client, tenants: dict[str, str]
) -> None:
    """A1 draws from agency A's balance: A1's own users see who pays, not A's balance, runway,
    settings or cards, unless A shares its balance (and then the balance and status only)."""
    a, a1, a2 = tenants["A"], tenants["A1"], tenants["A2"]
    hidden = ("balance", "status", "low_balance_threshold", "average_daily_spend", "runway_days", "auto_recharge")
    for role in (Role.VIEWER, Role.ADMIN):
        for body in (
            send(client, "GET", f"/accounts/{a1}/balance", _auth(a1, role)).json_body,
            send(client, "GET", f"/accounts/{a1}", _auth(a1, role)).json_body["balance"],
        ):
            assert (body["billing"], body["billing_account_id"], body["billing_account_name"]) == (
                "agency",
                a,
                "Tenant A",
            )
            assert body["balance_visible"] is False and all(body[key] is None for key in hidden), body
        settings = send(client, "GET", f"/accounts/{a1}/billing-settings", _auth(a1, role)).json_body
        assert set(settings) == {"account_id", "billing", "billing_account_id", "paid_by"}
        payments = send(client, "GET", f"/accounts/{a1}/payments", _auth(a1, role)).json_body
        assert payments["items"] == [] and payments["paid_by"]["account_id"] == a
    # The agency's own users, and the platform, see all of it; so does A2 of its own balance.
    agency_balance = send(client, "GET", f"/accounts/{a}/balance", viewer(a)).json_body["balance"]
    for headers in (viewer(a), service()):
        full = send(client, "GET", f"/accounts/{a1}/balance", headers).json_body
        assert full["balance_visible"] is True and full["balance"] == agency_balance
        assert full["average_daily_spend"] is not None and full["auto_recharge"] is not None
    assert send(client, "GET", f"/accounts/{a2}/balance", viewer(a2)).json_body["auto_recharge"] is not None

    # The agency opts in: its balance and status reach A1's users; runway, spend and settings still do not.
    agency_admin = _auth(a, Role.ADMIN)
    try:
        shared = send(
            client, "PUT", f"/accounts/{a}/billing-settings", agency_admin, {"share_balance_with_sub_accounts": True}
        )
        assert shared.status_code == 200 and shared.json_body["share_balance_with_sub_accounts"] is True
        body = send(client, "GET", f"/accounts/{a1}/balance", viewer(a1)).json_body
        assert body["balance_visible"] is True and body["balance"] == agency_balance
        assert body["status"] in ("ok", "low")
        assert all(body[key] is None for key in hidden[2:]), body
    finally:
        off = {"share_balance_with_sub_accounts": False}
        assert send(client, "PUT", f"/accounts/{a}/billing-settings", agency_admin, off).status_code == 200
    assert send(client, "GET", f"/accounts/{a1}/balance", viewer(a1)).json_body["balance"] is None
    # Only an agency's balance has sub-accounts to share it with.
    assert_error(
        send(
            client,
            "PUT",
            f"/accounts/{a2}/billing-settings",
            _auth(a2, Role.ADMIN),
            {"share_balance_with_sub_accounts": True},
        ),
        400,
        "bad_request",
        mentions="agency",
    )


# (The service token creating an account is tested in test_http_accounts.)
MISSING_CASES = [
    pytest.param(endpoint, role, id=f"{endpoint.name}-{role.value}")
    for endpoint in ENDPOINTS
    for role in (Role.VIEWER, Role.ADMIN, Role.SERVICE)
    if endpoint.kind != "post_usage"
    and not (endpoint.kind in ("provision", "admin", "agency_admin") and role is Role.SERVICE)
]
# (A service token asking for an admin action is 403 whether or not the account exists.)


@pytest.mark.parametrize(("endpoint", "role"), MISSING_CASES)
def test_an_account_that_does_not_exist_is_404(
    client: Client, tenants: dict[str, str], endpoint: Endpoint, role: Role
) -> None:
    missing = f"xmissing-{endpoint.name}-{role.value}".replace("_", "-")
    body: dict[str, Any] | None = {"rates": {}} if endpoint.kind == "set_rates" else None
    if endpoint.kind == "provision":
        body = {"name": "n"}
    if endpoint.kind in ("admin", "agency_admin"):
        body = {"amount": "10.00"} if endpoint.name == "add_funds" else {}
    caller = "platform" if role is Role.SERVICE else tenants["A"]
    # PUT /accounts/{new id} by an admin: not theirs to see, so 404 rather than 403.
    assert_error(send(client, endpoint.method, endpoint.url(missing), _auth(caller, role), body), 404, "not_found")
    assert_error(send(client, "GET", f"/accounts/{missing}", service()), 404)


# -- authentication ---------------------------------------------------------------------------
def _expired(tenants: dict[str, str]) -> Headers:
    return bearer(token(tenants["A1"], Role.VIEWER, ttl=timedelta(minutes=-5)))


def _other_secret(tenants: dict[str, str]) -> Headers:
    return bearer(token(tenants["A1"], Role.SERVICE, secret="another-secret-0123456789abcdef0123456789"))


def _malformed(tenants: dict[str, str]) -> Headers:
    return {"Authorization": "Bearer not.a.jwt"}


def _not_bearer(tenants: dict[str, str]) -> Headers:
    return {"Authorization": f"Basic {token(tenants['A1'], Role.VIEWER)}"}


def _unknown_role(tenants: dict[str, str]) -> Headers:
    return bearer(
        jwt.encode({"sub": "u", "account_id": tenants["A1"], "role": "root", "exp": 4102444800}, TEST_SECRET, "HS256")
    )


def _missing_claims(tenants: dict[str, str]) -> Headers:
    return bearer(jwt.encode({"sub": "u", "role": "service", "exp": 4102444800}, TEST_SECRET, "HS256"))


def _alg_none(tenants: dict[str, str]) -> Headers:
    claims = {"sub": "u", "account_id": tenants["A1"], "role": "service", "exp": 4102444800}
    return bearer(jwt.encode(claims, None, algorithm="none"))  # type: ignore[arg-type]


def _empty_bearer(tenants: dict[str, str]) -> Headers:
    return {"Authorization": "Bearer "}


BAD_TOKENS = {
    "expired": _expired,
    "other secret": _other_secret,
    "malformed": _malformed,
    "not bearer": _not_bearer,
    "unknown role": _unknown_role,
    "missing claims": _missing_claims,
    "alg none": _alg_none,
    "empty bearer": _empty_bearer,
}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
@pytest.mark.parametrize("bad_token", list(BAD_TOKENS), ids=list(BAD_TOKENS))
def test_invalid_token_is_401_with_the_error_shape(
    client: Client, tenants: dict[str, str], endpoint: Endpoint, bad_token: str
) -> None:
    response = call(client, endpoint, tenants["A1"], BAD_TOKENS[bad_token](tenants), tenants)
    error = assert_error(response, 401, "unauthorized")
    if bad_token == "expired":
        assert "expired" in error["message"]
    assert response.headers.get("WWW-Authenticate") == "Bearer"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_no_token_is_401(client: Client, tenants: dict[str, str], endpoint: Endpoint) -> None:
    # Chalice's gateway answers before our code runs, so only the status is ours to check.
    response = call(client, endpoint, tenants["A1"], {}, tenants)
    assert response.status_code == 401


def test_a_token_expired_inside_the_jwt_leeway_is_still_401(client: Client, tenants: dict[str, str]) -> None:
    a1 = tenants["A1"]
    response = send(client, "GET", f"/accounts/{a1}", bearer(token(a1, Role.VIEWER, ttl=timedelta(seconds=-5))))
    # Expired 5 s ago: PyJWT's 30 s leeway lets it through, our own expiry check does not.
    assert_error(response, 401, "unauthorized", mentions="expired")


# -- cursors ---------------------------------------------------------------------------------------
def test_a_cursor_from_another_account_is_400(client: Client, tenants: dict[str, str]) -> None:
    a, a1, a2 = tenants["A"], tenants["A1"], tenants["A2"]
    # The agency may read both sub-accounts: a cursor of one still does not open the other.
    cursor = send(client, "GET", f"/accounts/{a2}/logs?limit=1", viewer(a)).json_body["next_cursor"]
    assert cursor
    assert_error(
        send(client, "GET", f"/accounts/{a1}/logs?limit=1&cursor={cursor}", viewer(a)),
        400,
        "bad_request",
        mentions="cursor",
    )
    assert_error(
        send(client, "GET", f"/accounts/{a1}/logs?limit=1&cursor={cursor}", viewer(a1)),
        400,
        "bad_request",
        mentions="cursor",
    )
    assert_error(
        send(client, "GET", f"/agencies/{a}/logs?limit=1&cursor={cursor}", viewer(a)),
        400,
        "bad_request",
        mentions="cursor",
    )
    # Another agency's cursor on this agency.
    b = tenants["B"]
    b_cursor = send(client, "GET", f"/agencies/{b}/logs?limit=1", service()).json_body["next_cursor"]
    assert b_cursor
    assert_error(
        send(client, "GET", f"/agencies/{a}/logs?limit=1&cursor={b_cursor}", viewer(a)),
        400,
        "bad_request",
        mentions="cursor",
    )
    # A caller without reach gets 404 before any cursor is looked at.
    assert_error(send(client, "GET", f"/accounts/{a2}/logs?limit=1&cursor={cursor}", viewer(a1)), 404)


AGENCY_LISTS = ["/agencies/{id}/dashboard", "/agencies/{id}/usage", "/agencies/{id}/accounts"]


@pytest.mark.parametrize("path", AGENCY_LISTS)
def test_an_agency_list_cursor_opens_no_other_list(client: Client, tenants: dict[str, str], path: str) -> None:
    """A page cursor of agency B's list (or of another list of A, or another query) is refused on A's."""
    a, b = tenants["A"], tenants["B"]
    b_cursor = send(client, "GET", path.format(id=b) + "?limit=1", service()).json_body["next_cursor"]
    assert b_cursor
    assert_error(
        send(client, "GET", path.format(id=a) + f"?limit=1&cursor={b_cursor}", viewer(a)),
        400,
        "bad_request",
        mentions="cursor",
    )
    a_cursor = send(client, "GET", path.format(id=a) + "?limit=1", viewer(a)).json_body["next_cursor"]
    assert a_cursor
    other = next(p for p in AGENCY_LISTS if p != path)
    for wrong in (
        other.format(id=a) + f"?limit=1&cursor={a_cursor}",
        path.format(id=a) + f"?limit=1&q=x&cursor={a_cursor}",
    ):
        assert_error(send(client, "GET", wrong, viewer(a)), 400, "bad_request", mentions="cursor")
    # A sub-account's user never reaches the agency's lists, cursor or not.
    assert_error(send(client, "GET", path.format(id=a) + f"?cursor={a_cursor}", viewer(tenants["A1"])), 404)


@pytest.mark.parametrize("path", AGENCY_LISTS)
def test_search_never_finds_another_agencys_accounts(client: Client, tenants: dict[str, str], path: str) -> None:
    a, b1 = tenants["A"], tenants["B1"]
    for q in (b1, "Tenant%20B1", "B1"):
        body = send(client, "GET", path.format(id=a) + f"?q={q}", viewer(a)).json_body
        listed = body["items" if "items" in body else "accounts"]
        assert listed == [] and body["matched"] == 0, (q, listed)
    # The agency's own sub-account is found by id and by name, and only it.
    body = send(client, "GET", path.format(id=a) + "?q=tenant%20a1", viewer(a)).json_body
    listed = body["items" if "items" in body else "accounts"]
    assert [row["account_id"] for row in listed] == [tenants["A1"]]


def test_a_logs_search_never_finds_another_accounts_rows(client: Client, tenants: dict[str, str]) -> None:
    """Every tenant has a charge carrying the same caller: a search finds only the rows the caller may read."""
    charge(
        [
            usage_event(
                owner, event_id=f"{owner}-secret", metadata={"caller": "Caller 555-0142"}, description="Inbound"
            )
            for owner in tenants.values()
        ]
    )
    found = "/logs?q=555-0142&limit=500"
    for name, account_id in tenants.items():
        rows = send(client, "GET", f"/accounts/{account_id}{found}", viewer(account_id)).json_body["items"]
        assert [r["event_id"] for r in rows] == [f"{account_id}-secret"], name
        csv_body = send(client, "GET", f"/accounts/{account_id}{found}&format=csv", viewer(account_id)).body.decode()
        others = [other for other in tenants.values() if other != account_id]
        assert f"{account_id}-secret" in csv_body and not [o for o in others if f"{o}-secret" in csv_body], name
    a, a1, a2, b = tenants["A"], tenants["A1"], tenants["A2"], tenants["B"]
    rows = send(client, "GET", f"/agencies/{a}{found}", viewer(a)).json_body["items"]
    assert sorted(r["account_id"] for r in rows) == sorted([a, a1, a2])
    rows = send(client, "GET", f"/agencies/{b}{found}", viewer(b)).json_body["items"]
    assert sorted(r["account_id"] for r in rows) == sorted([b, tenants["B1"]])
    # Out of reach, a search is the same 404 as any read: a sibling's Logs, the agency's, another agency's.
    for path, headers in (
        (f"/accounts/{a2}{found}", viewer(a1)),
        (f"/agencies/{a}{found}", viewer(a1)),
        (f"/agencies/{a}{found}", viewer(b)),
        (f"/accounts/{a1}{found}", viewer(tenants["S"])),
    ):
        assert_error(send(client, "GET", path, headers), 404)
    # The shared client's own search does not show the agency's balance either.
    rows = send(client, "GET", f"/accounts/{a1}{found}", viewer(a1)).json_body["items"]
    assert [r["balance_after"] for r in rows] == [None]
    # A cursor of one account's search does not continue another's.
    first = send(client, "GET", f"/agencies/{a}/logs?q=555-0142&limit=1", viewer(a)).json_body["next_cursor"]
    assert first
    assert_error(
        send(client, "GET", f"/accounts/{a1}/logs?q=555-0142&limit=1&cursor={first}", viewer(a)), 400, mentions="cursor"
    )
