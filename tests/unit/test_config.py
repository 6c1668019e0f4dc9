import pytest

from chalicelib.config import LOCAL_JWT_SECRET, ConfigurationError, get_settings, reset_settings, table_name_variable
from chalicelib.domain.categories import Category


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch):
    monkeypatch.delenv("BILLING_JWT_SECRET", raising=False)
    reset_settings()
    yield
    reset_settings()


def test_local_stage_falls_back_to_the_printed_default(monkeypatch):
    monkeypatch.setenv("BILLING_STAGE", "local")
    assert get_settings().jwt_secret == LOCAL_JWT_SECRET


def test_other_stages_refuse_to_run_without_a_secret(monkeypatch):
    monkeypatch.setenv("BILLING_STAGE", "prod")
    with pytest.raises(ConfigurationError, match="BILLING_JWT_SECRET"):
        get_settings()
    monkeypatch.setenv("BILLING_JWT_SECRET", "s3cret-from-ssm")
    reset_settings()
    with pytest.raises(ConfigurationError, match="BILLING_LEDGER_KEY"):
        get_settings()
    monkeypatch.setenv("BILLING_LEDGER_KEY_PARAMETER", "/billing/ledger-key")
    reset_settings()
    assert get_settings().jwt_secret == "s3cret-from-ssm"
    assert get_settings().ledger_key_parameter == "/billing/ledger-key"
    assert get_settings().table_name("ledger_entries") == "billing-prod-ledger_entries"


def test_a_deployed_stack_names_each_table(monkeypatch):
    monkeypatch.setenv("BILLING_STAGE", "local")
    monkeypatch.setenv("BILLING_LEDGER_ENTRIES_TABLE", "prod-LedgerEntriesTable-1A2B3C")
    monkeypatch.setenv("BILLING_TABLE_PREFIX", "billing-local-")
    reset_settings()
    settings = get_settings()
    assert settings.table_name("ledger_entries") == "prod-LedgerEntriesTable-1A2B3C"
    assert settings.table_name("accounts") == "billing-local-accounts"  # not named: the prefix
    assert table_name_variable("usage_rollups") == "BILLING_USAGE_ROLLUPS_TABLE"


def test_default_rate_cards_per_currency_come_from_configuration(monkeypatch):
    monkeypatch.setenv("BILLING_STAGE", "local")
    monkeypatch.setenv("BILLING_DEFAULT_RATES", '{"EUR": {"call_minutes": {"unit_price": "0.011"}}}')
    cards = get_settings().default_cards
    assert set(cards) == {"USD", "EUR"}
    assert cards["EUR"][Category.CALL_MINUTES].unit_price_micros == 11_000
    for broken, mentions in (('{"EUR": ', "Expecting"), ('{"eur": {}}', "currency code")):
        monkeypatch.setenv("BILLING_DEFAULT_RATES", broken)
        reset_settings()
        with pytest.raises(ConfigurationError, match=f"BILLING_DEFAULT_RATES: .*{mentions}"):
            _ = get_settings().default_cards
