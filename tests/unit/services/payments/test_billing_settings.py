"""services/billing_settings.py: reading and changing a balance's billing settings (cards described
by the gateway, amounts checked, the pause lifted by a change, the billing webhook's secret shown
once); nothing is saved when a field is refused."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.gateway.base import GatewayError
from chalicelib.domain.money import MICROS_PER_UNIT
from chalicelib.domain.payments import RechargeState
from chalicelib.services.billing_settings import get_billing_settings, put_billing_settings
from chalicelib.services.errors import BadRequest, Forbidden, Unavailable
from chalicelib.services.payments import SharedBilling
from tests.fakes.world import admin, viewer
from tests.unit.services.payments.conftest import World


@pytest.fixture
def acme(world: World) -> str:
    world.provision("acme")
    return "acme"


def put(account: str, **body: object) -> dict[str, Any]:
    return put_billing_settings(admin(account), account, body)


def test_a_new_balance_has_the_platforms_defaults(world: World, acme: str) -> None:
    view = get_billing_settings(viewer(acme), acme)
    assert view == {
        "account_id": "acme",
        "billing": "own",
        "billing_account_id": "acme",
        "currency": "USD",
        "auto_recharge_enabled": False,
        "threshold": "15.00",
        "amount": "25.00",
        "primary_card": None,
        "backup_card": None,
        "low_balance_alert": None,
        "alert_recipients": [],
        "share_balance_with_sub_accounts": False,
        "recharge": {"in_flight": False, "consecutive_declines": 0, "retry_after": None, "paused": False},
        "webhook_url": None,
    }


def test_settings_are_saved_with_cards_as_the_gateway_describes_them(world: World, acme: str) -> None:
    view = put(
        acme,
        auto_recharge_enabled=True,
        threshold="20.00",
        amount="40.00",
        primary_card="pm_card_visa",
        backup_card="pm_card_amex",
        low_balance_alert="30.00",
        alert_recipients=["cfo@acme.example"],
    )
    assert view["primary_card"] == {"brand": "visa", "last4": "4242"}
    assert view["backup_card"] == {"brand": "amex", "last4": "8431"}
    assert (view["threshold"], view["amount"], view["low_balance_alert"]) == ("20.00", "40.00", "30.00")
    assert view["alert_recipients"] == ["cfo@acme.example"] and view["auto_recharge_enabled"] is True
    assert get_billing_settings(viewer(acme), acme) == view
    settings = world.head(acme).settings
    assert settings.primary_card is not None and settings.primary_card.token == "pm_card_visa"
    assert settings.threshold_micros == 20 * MICROS_PER_UNIT

    # Fields left out keep their values; given as null they are cleared.
    view = put(acme, amount="50.00", backup_card=None, low_balance_alert=None)
    assert view["amount"] == "50.00" and view["threshold"] == "20.00" and view["backup_card"] is None
    assert view["low_balance_alert"] is None and view["primary_card"] == {"brand": "visa", "last4": "4242"}


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"threshold": "lots"}, "threshold"),
        ({"amount": "10.001"}, "amount"),
        ({"amount": "5.00"}, "amount"),
        ({"threshold": "10000.01"}, "threshold"),
        ({"low_balance_alert": "-1.00"}, "low_balance_alert"),
        ({"auto_recharge_enabled": True}, "primary_card: auto-recharge needs a card"),
        ({"backup_card": "pm_card_visa"}, "backup_card: a backup card needs a primary card"),
        ({"primary_card": "4242424242424242"}, "primary_card"),
        ({"primary_card": "pm_card_nosuch"}, "primary_card"),
        ({"share_balance_with_sub_accounts": True}, "only an agency"),
        ({"webhook_url": "ftp://example.com/hook"}, "webhook"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_refused_field_saves_nothing(world: World, acme: str, body: dict[str, object], mentions: str) -> None:
    before = world.head(acme)
    with pytest.raises(BadRequest, match=mentions):
        put(acme, **body)
    assert world.head(acme) == before and world.endpoints.endpoints == {}


def test_a_gateway_that_does_not_answer_is_503(world: World, acme: str) -> None:
    class Down:
        name = "simulated"

        def describe_card(self, token: str) -> Any:
            raise GatewayError("connection reset")

    world.stores.gateway = Down()  # type: ignore[assignment]
    with pytest.raises(Unavailable, match="did not answer"):
        put(acme, primary_card="pm_card_visa")


def test_changing_the_settings_lifts_a_pause_and_an_unchanged_save_does_not(world: World, acme: str) -> None:
    put(acme, auto_recharge_enabled=True, primary_card="pm_card_visa")
    paused = RechargeState(consecutive_declines=3, paused=True)
    world.tables.update_head(world.tables.head_record(acme), {"recharge_paused": True, "consecutive_declines": 3})  # type: ignore[arg-type]
    assert world.head(acme).recharge == paused
    view = put(acme, primary_card="pm_card_visa")  # the same card: nothing changed
    assert view["recharge"]["paused"] is True and view["recharge"]["consecutive_declines"] == 3
    view = put(acme, primary_card="pm_card_mastercard")
    assert view["recharge"] == {"in_flight": False, "consecutive_declines": 0, "retry_after": None, "paused": False}


def test_the_billing_webhook_secret_is_shown_once(world: World, acme: str) -> None:
    first = put(acme, webhook_url="http://localhost:9/hook")
    assert first["webhook_url"] == "http://localhost:9/hook" and len(first["webhook_secret"]) >= 32
    again = put(acme, webhook_url="http://localhost:9/hook")  # the same URL keeps its secret
    assert "webhook_secret" not in again
    assert get_billing_settings(viewer(acme), acme)["webhook_url"] == "http://localhost:9/hook"
    assert "webhook_secret" not in put(acme, amount="30.00")
    removed = put(acme, webhook_url=None)
    assert removed["webhook_url"] is None and world.endpoints.endpoints == {}


def test_an_agency_shares_its_balance_with_its_sub_accounts(world: World) -> None:
    world.provision("agency", kind="agency")
    assert put("agency", share_balance_with_sub_accounts=True)["share_balance_with_sub_accounts"] is True


def test_a_sub_account_on_shared_billing_sees_who_pays_and_changes_nothing(world: World) -> None:
    world.provision("agency", kind="agency")
    world.provision("client", agency_id="agency", billing="agency")
    assert get_billing_settings(viewer("client"), "client") == {
        "account_id": "client",
        "billing": "agency",
        "billing_account_id": "agency",
        "paid_by": "agency",
    }
    with pytest.raises(SharedBilling):
        put("client", amount="30.00")


def test_viewers_read_and_only_admins_change(world: World, acme: str) -> None:
    with pytest.raises(Forbidden):
        put_billing_settings(viewer(acme), acme, {"amount": "30.00"})
    with pytest.raises(BadRequest):
        put_billing_settings(admin(acme), acme, ["not", "an", "object"])
