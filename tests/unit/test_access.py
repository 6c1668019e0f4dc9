import pytest

from chalicelib.domain.access import AccessDenied, Action, Principal, Role, authorize
from chalicelib.domain.accounts import Account, AccountKind, Billing

AGENCY = Account("ag1", "Agency", AccountKind.AGENCY, "UTC", "USD", None, Billing.OWN)
SUB = Account("sub1", "Sub", AccountKind.ACCOUNT, "UTC", "USD", "ag1", Billing.AGENCY)
SIBLING = Account("sub2", "Sibling", AccountKind.ACCOUNT, "UTC", "USD", "ag1", Billing.OWN)
OTHER = Account("x1", "Other agency's", AccountKind.ACCOUNT, "UTC", "USD", "ag2", Billing.OWN)


def status(principal, action, account):
    try:
        authorize(principal, action, account.account_id if account else "missing", account)
    except AccessDenied as denied:
        return denied.status
    return 200


def user(account_id, role=Role.VIEWER):
    return Principal("u", account_id, role)


@pytest.mark.parametrize(
    ("principal", "action", "account", "expected"),
    [
        (user("sub1"), Action.READ, SUB, 200),
        (user("sub1"), Action.READ, SIBLING, 404),
        (user("sub1"), Action.READ, AGENCY, 404),
        (user("sub1"), Action.READ, OTHER, 404),
        (user("sub1"), Action.READ, None, 404),
        (user("ag1"), Action.READ, SUB, 200),
        (user("ag1"), Action.READ, OTHER, 404),
        (user("ag1"), Action.READ_AGENCY, AGENCY, 200),
        (user("ag1"), Action.READ_AGENCY, SUB, 404),
        (user("sub1"), Action.READ_AGENCY, AGENCY, 404),
        (user("sub1"), Action.ADMIN, SUB, 403),
        (user("sub1", Role.ADMIN), Action.ADMIN, SUB, 200),
        (user("sub1", Role.ADMIN), Action.ADMIN, SIBLING, 404),
        (user("sub1", Role.ADMIN), Action.PROVISION, SUB, 403),
        (user("sub1", Role.ADMIN), Action.PROVISION, OTHER, 404),
        (user("sub1", Role.ADMIN), Action.POST_USAGE, SUB, 403),
        (user("sub1", Role.ADMIN), Action.SET_RATES, SUB, 403),
        (user("ag1", Role.ADMIN), Action.SET_RATES, SUB, 200),
        (user("ag1"), Action.SET_RATES, SUB, 403),
        (user("ag1", Role.ADMIN), Action.SET_RATES, AGENCY, 403),
        (Principal("svc", "platform", Role.SERVICE), Action.PROVISION, None, 200),
        (Principal("svc", "platform", Role.SERVICE), Action.READ, OTHER, 200),
        (Principal("svc", "platform", Role.SERVICE), Action.READ, None, 404),
        (Principal("svc", "platform", Role.SERVICE), Action.SET_RATES, SUB, 200),
        (Principal("svc", "platform", Role.SERVICE), Action.ADMIN, SUB, 403),
        (Principal("svc", "platform", Role.SERVICE), Action.READ_AGENCY, SUB, 404),
    ],
)
def test_policy(principal, action, account, expected):
    assert status(principal, action, account) == expected
