"""Secrets from SSM Parameter Store, read on first use (never at import, never in the template).

A SecureString parameter is decrypted with WithDecryption; with the AWS managed key
(aws/ssm) ssm:GetParameter is all the role needs. A Secrets Manager secret can be
read the same way through its SSM reference path, `/aws/reference/secretsmanager/<name>`
(the role then needs secretsmanager:GetSecretValue on it as well).

The settings (config.py) say where a secret is: its value, or the name of its
parameter. `jwt_secret()` and `ledger_key()` resolve it here, one SSM call for as
long as the settings last (`reset_settings()` makes the next use read it again); the
payment gateway caches its own key.
"""

from __future__ import annotations

import threading

from ..config import ConfigurationError, Settings, get_settings
from .aws import client

_lock = threading.Lock()
_read_for: Settings | None = None
_read: dict[str, str] = {}


def ssm_secret(name: str) -> str:
    if not name:
        raise ConfigurationError("no SSM parameter name given for a secret")
    value = client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"].get("Value")
    if not value:
        raise ConfigurationError(f"SSM parameter {name!r} is empty")
    return str(value)


def _parameter(settings: Settings, name: str | None) -> str:
    """The parameter's value, read once for these settings."""
    global _read_for
    with _lock:
        if _read_for is not settings:
            _read_for = settings
            _read.clear()
        key = str(name)
        if key not in _read:
            _read[key] = ssm_secret(key)
        return _read[key]


def jwt_secret() -> str:
    """The token secret: BILLING_JWT_SECRET (or the local default), or its SSM parameter's value."""
    settings = get_settings()
    return settings.jwt_secret_value or _parameter(settings, settings.jwt_secret_parameter)


def ledger_key() -> bytes:
    """The key ledger entries and statements are sealed with: BILLING_LEDGER_KEY (or the local
    default), or its SSM parameter's value."""
    settings = get_settings()
    return (settings.ledger_key_value or _parameter(settings, settings.ledger_key_parameter)).encode()
