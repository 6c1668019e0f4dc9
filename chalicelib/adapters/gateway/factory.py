"""Which payment gateway this process uses, chosen by configuration on first use.

BILLING_PAYMENT_GATEWAY:
- "simulated" (the default on the local stage): SimulatedGateway, no network.
- "stripe": StripeGateway; BILLING_STRIPE_API_KEY is required and
  BILLING_STRIPE_API_BASE optionally points it somewhere else (a local stub).

A stage other than "local" must name its gateway: a deployed stage never falls back
to fake charges that would credit real balances.

Read from the environment on first use, never at import, and cached;
`reset_gateway()` drops the cache and `set_gateway(g)` injects one (tests).
"""

from __future__ import annotations

import os
import threading

from chalicelib.adapters.gateway.base import PaymentGateway
from chalicelib.config import ConfigurationError

GATEWAY_ENV = "BILLING_PAYMENT_GATEWAY"
STRIPE_API_KEY_ENV = "BILLING_STRIPE_API_KEY"
STRIPE_API_BASE_ENV = "BILLING_STRIPE_API_BASE"
STRIPE_API_KEY_PARAMETER_ENV = "BILLING_STRIPE_API_KEY_PARAMETER"  # SSM SecureString name (deployed stages)

_lock = threading.Lock()
_gateway: PaymentGateway | None = None


def get_gateway() -> PaymentGateway:
    """The process's gateway (built on first call from the environment, then cached)."""
    global _gateway
    with _lock:
        if _gateway is None:
            _gateway = _build()
        return _gateway


def set_gateway(gateway: PaymentGateway) -> None:
    """Use this gateway from now on (tests inject a configured SimulatedGateway)."""
    global _gateway
    with _lock:
        _gateway = gateway


def reset_gateway() -> None:
    """Forget the cached gateway; the next get_gateway() reads the environment again."""
    global _gateway
    with _lock:
        _gateway = None


def _build() -> PaymentGateway:
    env = os.environ
    stage = env.get("BILLING_STAGE", "local")
    choice = (env.get(GATEWAY_ENV) or "").strip().lower()
    if not choice:
        if stage != "local":
            raise ConfigurationError(f"{GATEWAY_ENV} must be set ('stripe' or 'simulated') for stage {stage!r}")
        choice = "simulated"
    if choice == "simulated":
        from chalicelib.adapters.gateway.simulated import SimulatedGateway

        return SimulatedGateway()
    if choice == "stripe":
        api_key = env.get(STRIPE_API_KEY_ENV)
        if not api_key and env.get(STRIPE_API_KEY_PARAMETER_ENV):
            from chalicelib.adapters.secrets import ssm_secret

            api_key = ssm_secret(env[STRIPE_API_KEY_PARAMETER_ENV])
        if not api_key:
            raise ConfigurationError(
                f"{STRIPE_API_KEY_ENV} or {STRIPE_API_KEY_PARAMETER_ENV} must be set when {GATEWAY_ENV}=stripe"
            )
        from chalicelib.adapters.gateway.stripe_gateway import StripeGateway

        return StripeGateway(api_key, api_base=env.get(STRIPE_API_BASE_ENV) or None)
    raise ConfigurationError(f"{GATEWAY_ENV} must be 'simulated' or 'stripe', got {choice!r}")
