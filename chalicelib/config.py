"""Settings read from the environment on first use, never at import.

Tests and `chalice local` set the environment after the app is imported, so
everything here is resolved lazily and cached; `reset_settings()` drops the cache.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .domain.categories import Category
    from .domain.pricing import Rate

# A printed, well-known default so `make run` works out of the box; deployed
# stages set BILLING_JWT_SECRET_PARAMETER (an SSM SecureString, read on first use) or BILLING_JWT_SECRET.
LOCAL_JWT_SECRET = "local-dev-secret-change-me-0123456789abcdef"
# Likewise the key that seals ledger entries (domain/ledger.py `seal_of`); deployed stages set
# BILLING_LEDGER_KEY_PARAMETER (an SSM SecureString) or BILLING_LEDGER_KEY. Never rotate it in
# place: every seal made with it would stop verifying.
LOCAL_LEDGER_KEY = "local-ledger-key-change-me-0123456789abcdef"


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    table_prefix: str
    jwt_secret_value: str | None  # BILLING_JWT_SECRET (or the local default)
    jwt_secret_parameter: str | None  # BILLING_JWT_SECRET_PARAMETER: SSM parameter read on first use
    usage_queue_name: str
    usage_dlq_name: str
    billing_tasks_queue_name: str
    billing_tasks_dlq_name: str
    low_balance_micros: int
    default_rates_json: str | None
    sender: str  # BILLING_SENDER: the verified SES identity emails come from
    statements_queue_name: str = "statements"
    statements_dlq_name: str = "statements-dlq"
    # Usage-alert and webhook deliveries (services/notices.py).
    notices_queue_name: str = "notices"
    notices_dlq_name: str = "notices-dlq"
    # Where people open the console (links in alert emails); empty: no link.
    console_url: str = ""
    ledger_key_value: str | None = LOCAL_LEDGER_KEY  # BILLING_LEDGER_KEY (or the local default)
    ledger_key_parameter: str | None = None  # BILLING_LEDGER_KEY_PARAMETER: SSM parameter read on first use
    # The platform's company as receipts and statements print it (BILLING_COMPANY_*).
    company_name: str = "Charges & Usage"
    company_address: tuple[str, ...] = ()
    company_tax_id: str = ""
    # BILLING_<BASE>_TABLE: a table's own name. A deployed stack names its tables
    # itself (several stacks share an account), so it passes every name.
    table_names: Mapping[str, str] = field(default_factory=dict)

    def table_name(self, base: str) -> str:
        return self.table_names.get(base) or f"{self.table_prefix}{base}"

    @cached_property
    def default_cards(self) -> Mapping[str, Mapping[Category, Rate]]:
        """The default rate card of every currency: built in, with BILLING_DEFAULT_RATES on top
        (domain/pricing.parse_default_cards). A malformed value is a ConfigurationError on first use."""
        from .domain.pricing import RateCardError, parse_default_cards

        try:
            return parse_default_cards(self.default_rates_json)
        except (RateCardError, ValueError) as exc:
            raise ConfigurationError(f"BILLING_DEFAULT_RATES: {exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    stage = env.get("BILLING_STAGE", "local")
    return Settings(
        stage=stage,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        table_prefix=env.get("BILLING_TABLE_PREFIX", f"billing-{stage}-"),
        jwt_secret_value=_jwt_secret(stage, env.get("BILLING_JWT_SECRET"), env.get("BILLING_JWT_SECRET_PARAMETER")),
        jwt_secret_parameter=env.get("BILLING_JWT_SECRET_PARAMETER") or None,
        usage_queue_name=env.get("BILLING_USAGE_QUEUE", "usage-events.fifo"),
        usage_dlq_name=env.get("BILLING_USAGE_DLQ", "usage-events-dlq.fifo"),
        billing_tasks_queue_name=env.get("BILLING_TASKS_QUEUE", "billing-tasks"),
        billing_tasks_dlq_name=env.get("BILLING_TASKS_DLQ", "billing-tasks-dlq"),
        # Below this the balance reads `low` (the platform recharges below $15).
        low_balance_micros=int(env.get("BILLING_LOW_BALANCE_MICROS", "15000000")),
        default_rates_json=env.get("BILLING_DEFAULT_RATES"),
        sender=env.get("BILLING_SENDER", "billing@example.com"),
        statements_queue_name=env.get("BILLING_STATEMENTS_QUEUE", "statements"),
        statements_dlq_name=env.get("BILLING_STATEMENTS_DLQ", "statements-dlq"),
        notices_queue_name=env.get("BILLING_NOTICES_QUEUE", "notices"),
        notices_dlq_name=env.get("BILLING_NOTICES_DLQ", "notices-dlq"),
        console_url=env.get("BILLING_CONSOLE_URL", "").strip(),
        ledger_key_value=_secret(
            stage,
            "BILLING_LEDGER_KEY",
            env.get("BILLING_LEDGER_KEY"),
            env.get("BILLING_LEDGER_KEY_PARAMETER"),
            LOCAL_LEDGER_KEY,
        ),
        ledger_key_parameter=env.get("BILLING_LEDGER_KEY_PARAMETER") or None,
        **_company(stage, env),
        table_names=_table_names(env),
    )


# The local stack prints a company block too, plainly a demo one; deployed stages set their own.
LOCAL_COMPANY = {
    "BILLING_COMPANY_NAME": "Charges & Usage Demo Ltd",
    "BILLING_COMPANY_ADDRESS": "100 Example Street; Springfield, IL 62701; United States",
    "BILLING_COMPANY_TAX_ID": "EIN 00-0000000 (demo)",
}


def _company(stage: str, env: Mapping[str, str]) -> dict[str, Any]:
    """BILLING_COMPANY_NAME, BILLING_COMPANY_ADDRESS (lines separated by ";" or new lines) and
    BILLING_COMPANY_TAX_ID; unset, the local stage uses LOCAL_COMPANY and others print the name only."""

    def value(name: str) -> str:
        given = env.get(name)
        if given is None and stage == "local":
            given = LOCAL_COMPANY[name]
        return (given or "").strip()

    address = tuple(line.strip() for line in re.split(r"[;\n]", value("BILLING_COMPANY_ADDRESS")) if line.strip())
    return {
        "company_name": value("BILLING_COMPANY_NAME") or "Charges & Usage",
        "company_address": address,
        "company_tax_id": value("BILLING_COMPANY_TAX_ID"),
    }


def table_name_variable(base: str) -> str:
    """The variable naming one table: `ledger_entries` -> BILLING_LEDGER_ENTRIES_TABLE."""
    return f"BILLING_{base.upper()}_TABLE"


def _table_names(env: Mapping[str, str]) -> dict[str, str]:
    prefix, suffix = "BILLING_", "_TABLE"
    return {
        key[len(prefix) : -len(suffix)].lower(): value
        for key, value in env.items()
        if key.startswith(prefix) and key.endswith(suffix) and len(key) > len(prefix + suffix) and value
    }


class ConfigurationError(RuntimeError):
    pass


def _secret(stage: str, name: str, configured: str | None, parameter: str | None, local_default: str) -> str | None:
    """A secret's value (None: read from its SSM parameter on first use); only the local stage
    may fall back to its printed default."""
    if configured:
        return configured
    if parameter:
        return None
    if stage != "local":
        raise ConfigurationError(f"{name} or {name}_PARAMETER must be set for stage {stage!r}")
    return local_default


def _jwt_secret(stage: str, configured: str | None, parameter: str | None = None) -> str | None:
    """The token secret (None: read from the SSM parameter on first use)."""
    return _secret(stage, "BILLING_JWT_SECRET", configured, parameter, LOCAL_JWT_SECRET)


def reset_settings() -> None:
    get_settings.cache_clear()
