"""services/accounts.py, access.py and rates.py on the in-memory accounts table."""

from __future__ import annotations

import pytest

from chalicelib.domain.access import Action, Principal, Role
from chalicelib.services.access import check_account_id, require
from chalicelib.services.accounts import get_account, put_account
from chalicelib.services.errors import BadRequest, Forbidden, NotFound
from chalicelib.services.rates import get_rates, put_rates
from tests.fakes.world import SERVICE
from tests.unit.services.ledger.conftest import World

AGENCY_ADMIN = Principal("u1", "agency", Role.ADMIN)
SUB_VIEWER = Principal("u2", "sub", Role.VIEWER)


@pytest.fixture
def agency(world: World) -> World:
    world.provision("agency", kind="agency")
    world.provision("sub", agency_id="agency", billing="agency")
    world.provision("other")
    return world


def test_account_ids_are_checked() -> None:
    for bad in ("", "a" * 65, "has space", "new\nline", "slash/"):
        with pytest.raises(BadRequest):
            check_account_id(bad)
    check_account_id("ok.id_1-2")


def test_require_answers_404_out_of_reach_and_403_without_the_role(agency: World) -> None:
    assert require(AGENCY_ADMIN, Action.READ, "sub").account_id == "sub"
    with pytest.raises(NotFound):
        require(AGENCY_ADMIN, Action.READ, "other")
    with pytest.raises(NotFound):
        require(SERVICE, Action.READ, "missing")
    with pytest.raises(Forbidden):
        require(SUB_VIEWER, Action.SET_RATES, "sub")
    with pytest.raises(BadRequest):
        require(SERVICE, Action.READ, "bad id")


def test_put_account_creates_then_updates_keeping_created_at(world: World) -> None:
    created, new = put_account(SERVICE, "acme", {"name": "Acme", "time_zone": "Europe/Paris"})
    assert new and created.name == "Acme" and created.created_at == world.clock.now
    world.clock.advance(hours=1)
    updated, new = put_account(SERVICE, "acme", {"name": "Acme 2", "time_zone": "Europe/Paris"})
    assert not new and updated.created_at == created.created_at and updated.updated_at == world.clock.now
    assert world.accounts.get("acme") == updated


def test_put_account_refuses_bad_input_and_other_callers(agency: World) -> None:
    with pytest.raises(BadRequest):
        put_account(SERVICE, "acme", {"name": "Acme", "time_zone": "Mars/Olympus"})
    with pytest.raises(BadRequest):
        put_account(SERVICE, "acme", ["not", "an", "object"])
    with pytest.raises(Forbidden):
        put_account(AGENCY_ADMIN, "sub", {"name": "x", "time_zone": "UTC"})
    with pytest.raises(NotFound):
        put_account(AGENCY_ADMIN, "other", {"name": "x", "time_zone": "UTC"})


def test_a_currency_cannot_change_once_the_account_has_entries(agency: World) -> None:
    agency.deliver(agency.event("other", event_id="e1"))
    with pytest.raises(BadRequest):
        put_account(SERVICE, "other", {"name": "other", "time_zone": "America/New_York", "currency": "EUR"})


def test_get_account_shows_the_balance_as_the_viewer_may_see_it(agency: World) -> None:
    agency.deliver(agency.event("sub", event_id="e1"))
    as_agency = get_account(AGENCY_ADMIN, "sub")
    assert as_agency["billing_account_id"] == "agency" and as_agency["balance"]["balance"].startswith("-")
    as_sub = get_account(SUB_VIEWER, "sub")
    assert as_sub["balance"]["balance_visible"] is False and as_sub["balance"]["balance"] is None


def test_rates_resolve_account_then_agency_then_default(agency: World) -> None:
    default = {r["category"]: r for r in get_rates(SERVICE, "sub")["rates"]}
    assert default["call_minutes"]["source"] == "default"
    put_rates(AGENCY_ADMIN, "sub", {"rates": {"call_minutes": {"unit_price": "0.0125"}}})
    mine = {r["category"]: r for r in get_rates(SUB_VIEWER, "sub")["rates"]}
    assert mine["call_minutes"]["unit_price"] == "0.0125" and mine["call_minutes"]["source"] != "default"
    assert agency.accounts.get("sub").rate_overrides["USD"]  # type: ignore[union-attr]
    put_rates(SERVICE, "agency", {"rates": {"text_messages": {"unit_price": "0.01"}}, "currency": "EUR"})
    assert get_rates(SERVICE, "agency", {"currency": "EUR"})["currency"] == "EUR"


def test_rates_refuse_bad_bodies_and_currencies(agency: World) -> None:
    bodies: list[object] = [{}, {"rates": []}, {"rates": {}, "x": 1}, "rates"]
    for body in bodies:
        with pytest.raises(BadRequest):
            put_rates(SERVICE, "sub", body)
    with pytest.raises(BadRequest):
        put_rates(SERVICE, "sub", {"rates": {"call_minutes": {"unit_price": "-1"}}})
    with pytest.raises(BadRequest, match="only an agency"):
        get_rates(SERVICE, "sub", {"currency": "EUR"})
    with pytest.raises(BadRequest, match="three capital letters"):
        get_rates(SERVICE, "agency", {"currency": "euro"})
    with pytest.raises(Forbidden):
        put_rates(AGENCY_ADMIN, "agency", {"rates": {}})
