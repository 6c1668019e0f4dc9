"""Secrets from SSM Parameter Store (moto), read on first use and cached."""

from __future__ import annotations

import pytest

from chalicelib.adapters.aws import client
from chalicelib.adapters.gateway import factory, stripe_gateway
from chalicelib.config import ConfigurationError, get_settings, reset_settings


@pytest.fixture
def prod(aws, monkeypatch):
    ssm = client("ssm")  # (the client reads the region from the settings: before they refuse to load)
    monkeypatch.setenv("BILLING_STAGE", "prod")
    monkeypatch.delenv("BILLING_JWT_SECRET", raising=False)
    monkeypatch.setenv("BILLING_LEDGER_KEY_PARAMETER", "/charges-and-usage/test/ledger-key")
    reset_settings()
    yield ssm
    reset_settings()
    factory.reset_gateway()


def test_the_token_secret_is_read_from_ssm_on_first_use(prod, monkeypatch):
    name = "/charges-and-usage/test/jwt-secret"
    prod.put_parameter(Name=name, Value="s3cret-from-ssm-0123456789", Type="SecureString", Overwrite=True)
    monkeypatch.setenv("BILLING_JWT_SECRET_PARAMETER", name)
    reset_settings()
    settings = get_settings()  # no SSM call yet: the ingest function never needs the secret
    assert settings.jwt_secret_value is None
    assert settings.jwt_secret == "s3cret-from-ssm-0123456789"
    prod.put_parameter(Name=name, Value="rotated-later", Type="SecureString", Overwrite=True)
    assert get_settings().jwt_secret == "s3cret-from-ssm-0123456789"  # cached for the process


def test_prod_without_any_secret_refuses_to_start(prod, monkeypatch):
    with pytest.raises(ConfigurationError, match="BILLING_JWT_SECRET"):
        get_settings()
    monkeypatch.setenv("BILLING_JWT_SECRET", "s3cret")
    monkeypatch.delenv("BILLING_LEDGER_KEY_PARAMETER")
    reset_settings()
    with pytest.raises(ConfigurationError, match="BILLING_LEDGER_KEY"):
        get_settings()


def test_the_ledger_key_is_read_from_ssm_on_first_use(prod, monkeypatch):
    prod.put_parameter(Name="/charges-and-usage/test/ledger-key", Value="k" * 40, Type="SecureString", Overwrite=True)
    monkeypatch.setenv("BILLING_JWT_SECRET", "s3cret")
    reset_settings()
    assert get_settings().ledger_key_value is None and get_settings().ledger_key == b"k" * 40


def test_the_stripe_key_can_come_from_ssm(prod, monkeypatch):
    name = "/charges-and-usage/test/stripe-api-key"
    prod.put_parameter(Name=name, Value="sk_test_from_ssm", Type="SecureString", Overwrite=True)
    monkeypatch.setenv("BILLING_PAYMENT_GATEWAY", "stripe")
    monkeypatch.delenv("BILLING_STRIPE_API_KEY", raising=False)
    monkeypatch.setenv("BILLING_STRIPE_API_KEY_PARAMETER", name)
    built: list[str] = []

    class FakeStripe:
        name = "stripe"

        def __init__(self, api_key: str, api_base: str | None = None) -> None:
            built.append(api_key)

    monkeypatch.setattr(stripe_gateway, "StripeGateway", FakeStripe)
    factory.reset_gateway()
    assert factory.get_gateway().name == "stripe"
    assert built == ["sk_test_from_ssm"]
