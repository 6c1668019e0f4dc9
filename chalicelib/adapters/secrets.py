"""Secrets from SSM Parameter Store, read on first use (never at import, never in the template).

A SecureString parameter is decrypted with WithDecryption; with the AWS managed key
(aws/ssm) ssm:GetParameter is all the role needs. A Secrets Manager secret can be
read the same way through its SSM reference path, `/aws/reference/secretsmanager/<name>`
(the role then needs secretsmanager:GetSecretValue on it as well).
Callers cache the value (Settings.jwt_secret, the payment gateway).
"""

from __future__ import annotations

from ..config import ConfigurationError
from .aws import client


def ssm_secret(name: str) -> str:
    if not name:
        raise ConfigurationError("no SSM parameter name given for a secret")
    value = client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"].get("Value")
    if not value:
        raise ConfigurationError(f"SSM parameter {name!r} is empty")
    return str(value)
