"""Provisioning rules (domain/accounts.py `provision_account`): each refusal names its field, and
an update keeps what the request does not speak of."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib.domain import accounts
from chalicelib.domain.accounts import (
    Account,
    AccountError,
    AccountKind,
    AccountRequest,
    Billing,
    is_known_time_zone,
    provision_account,
)

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)
LATER = datetime(2026, 4, 1, tzinfo=UTC)
AGENCY = Account("ag", "Agency", AccountKind.AGENCY, "America/New_York", "USD", None, Billing.OWN, created_at=NOW)


def provision(
    body: AccountRequest,
    *,
    account_id: str = "acct",
    existing: Account | None = None,
    agency: Account | None = None,
    has_entries: bool = False,
    has_sub_accounts: bool = False,
) -> Account:
    return provision_account(
        account_id,
        body,
        existing=existing,
        agency=agency,
        has_entries=has_entries,
        has_sub_accounts=has_sub_accounts,
        now=LATER if existing else NOW,
    )


def refusal(body: AccountRequest, **context: object) -> tuple[str, str]:
    with pytest.raises(AccountError) as raised:
        provision(body, **context)  # type: ignore[arg-type]
    return raised.value.field, str(raised.value)


def test_a_new_account_is_what_was_asked() -> None:
    body = AccountRequest("Bees", time_zone="Europe/Paris", currency="EUR", emails=("a@b.example",))
    account = provision(body)
    assert account == Account(
        "acct", "Bees", AccountKind.ACCOUNT, "Europe/Paris", "EUR", None, Billing.OWN, ("a@b.example",), {}, NOW, NOW
    )
    assert (account.billing_account_id, account.agency_scope, str(account.zone)) == ("acct", None, "Europe/Paris")


def test_a_sub_account_on_shared_billing_draws_from_the_agency() -> None:
    shared = provision(AccountRequest("Client", agency_id="ag", billing=Billing.AGENCY), agency=AGENCY)
    assert (shared.billing_account_id, shared.agency_scope) == ("ag", "ag")
    own = provision(AccountRequest("Client", agency_id="ag"), agency=AGENCY)
    assert (own.billing_account_id, own.agency_scope) == ("acct", "ag")
    assert AGENCY.agency_scope == "ag"


@pytest.mark.parametrize(
    ("body", "context", "field", "message"),
    [
        (AccountRequest("x", agency_id="acct"), {"agency": None}, "agency_id", "cannot be its own agency"),
        (
            AccountRequest("x", kind=AccountKind.AGENCY, agency_id="ag"),
            {"agency": AGENCY},
            "agency_id",
            "an agency cannot belong to another agency",
        ),
        (AccountRequest("x", agency_id="ag"), {"agency": None}, "agency_id", "agency 'ag' does not exist"),
        (
            AccountRequest("x", agency_id="plain"),
            {"agency": replace(AGENCY, account_id="plain", kind=AccountKind.ACCOUNT)},
            "agency_id",
            "'plain' is not an agency",
        ),
        (
            AccountRequest("x", agency_id="nested"),
            {"agency": replace(AGENCY, account_id="nested", agency_id="top")},
            "agency_id",
            "'nested' is not an agency",
        ),
        (AccountRequest("x", billing=Billing.AGENCY), {}, "billing", "shared billing ('agency') needs an agency_id"),
        (
            AccountRequest("x", agency_id="ag", billing=Billing.AGENCY, currency="EUR"),
            {"agency": AGENCY},
            "currency",
            "shared billing needs the agency's currency USD",
        ),
    ],
)
def test_a_request_that_breaks_a_rule_is_refused_naming_the_field(
    body: AccountRequest, context: dict[str, object], field: str, message: str
) -> None:
    named, text = refusal(body, **context)
    assert named == field
    assert text.startswith(f"{field}: ") and message in text


def test_an_update_keeps_the_creation_time_and_the_rates() -> None:
    existing = replace(provision(AccountRequest("Bees")), rate_overrides={"USD": {}}, alert_watch=())
    updated = provision(AccountRequest("Bees & Co", time_zone="Asia/Tokyo", emails=("x@y.example",)), existing=existing)
    assert (updated.name, updated.time_zone, updated.emails) == ("Bees & Co", "Asia/Tokyo", ("x@y.example",))
    assert (updated.created_at, updated.updated_at, updated.rate_overrides) == (NOW, LATER, {"USD": {}})
    # Its currency may change while nothing was charged and nothing hangs off it.
    assert provision(AccountRequest("Bees", currency="EUR"), existing=existing).currency == "EUR"


def test_what_an_account_with_history_may_not_change() -> None:
    existing = provision(AccountRequest("Bees"))
    euro = AccountRequest("Bees", currency="EUR")
    assert refusal(euro, existing=existing, has_entries=True) == (
        "currency",
        "currency: cannot change once the account has ledger entries",
    )
    agency = provision(AccountRequest("Agency", kind=AccountKind.AGENCY), account_id="ag")
    assert refusal(
        AccountRequest("Agency", kind=AccountKind.AGENCY, currency="EUR"), existing=agency, has_sub_accounts=True
    ) == (
        "currency",
        "currency: an agency with sub-accounts cannot change its currency",
    )
    assert refusal(AccountRequest("Agency"), existing=agency, has_sub_accounts=True) == (
        "kind",
        "kind: an agency with sub-accounts cannot stop being an agency",
    )
    # Without sub-accounts an agency may become a plain account; with them, it may keep its currency.
    assert provision(AccountRequest("Agency"), existing=agency).kind is AccountKind.ACCOUNT
    kept = provision(AccountRequest("Agency", kind=AccountKind.AGENCY), existing=agency, has_sub_accounts=True)
    assert kept.kind is AccountKind.AGENCY


def test_rates_are_the_overrides_in_the_accounts_currency() -> None:
    account = replace(AGENCY, currency="EUR", rate_overrides={"EUR": {}, "USD": {}})
    assert account.rates is account.rate_overrides["EUR"]
    assert account.overrides_in("GBP") == {}


def test_known_time_zones_are_places() -> None:
    assert is_known_time_zone("America/New_York") and is_known_time_zone("UTC")
    for name in ("localtime", "Factory", "posixrules", "Mars/Olympus_Mons", "", "../etc/passwd"):
        assert not is_known_time_zone(name), name


def test_a_listed_zone_the_database_cannot_read_is_not_known(monkeypatch: pytest.MonkeyPatch) -> None:
    """The zone list and the zone files can disagree (a list cached from another tzdata): the file decides."""
    monkeypatch.setattr(accounts, "_ZONES", {"America/New_York", "Nowhere/Listed_Only", "bad\x00name"})
    assert is_known_time_zone("America/New_York")
    assert not is_known_time_zone("Nowhere/Listed_Only")  # ZoneInfoNotFoundError
    assert not is_known_time_zone("bad\x00name")  # ValueError
