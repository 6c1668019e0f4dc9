"""The Stripe gateway: PaymentIntents created and confirmed off-session.

One call per charge: POST /v1/payment_intents with confirm=true, off_session=true,
automatic_payment_methods[allow_redirects]=never and the caller's idempotency key, so asking again
with the same key returns Stripe's first answer and never charges twice. The
Stripe client's own retries are off by default (max_network_retries=0): the caller
retries with the same key, and a timeout must reach it as GatewayTimeout.

How Stripe's answers map:

- PaymentIntent status "succeeded" -> SUCCEEDED, reference = the PaymentIntent id.
- 402 card_error -> DECLINED; failure_code = the issuer's decline_code, or the
  error code when Stripe gives only a generic one ("generic_decline" or none), so
  the codes match the simulator's: "card_declined", "insufficient_funds",
  "expired_card", ...; reference = the declined PaymentIntent's id when Stripe sends it.
- connection errors, client timeouts, 5xx, 409 and 429 -> GatewayTimeout: the
  outcome is unknown (or the request may be repeated): retry with the same key.
- 400/404 invalid_request_error about the payment method -> InvalidCard.
- anything else (bad key, idempotency_error, other 400s) -> GatewayError.

`stripe` is imported when a StripeGateway is built, never at module import: the
HTTP handler's import must stay cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from chalicelib.adapters.gateway.base import (
    CardDetails,
    ChargeResult,
    ChargeStatus,
    GatewayError,
    GatewayTimeout,
    check_charge_request,
)
from chalicelib.domain.cards import InvalidCard, validate_card_token

if TYPE_CHECKING:
    import stripe

DEFAULT_TIMEOUT_SECONDS = 30.0

# PaymentIntent statuses that mean the card was not charged and will not be
# without a new confirmation (for an off-session charge, that is a decline).
_NOT_CHARGED = {"requires_payment_method", "requires_action", "requires_confirmation", "canceled"}


class StripeGateway:
    name: str = "stripe"

    def __init__(
        self,
        api_key: str,
        api_base: str | None = None,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_network_retries: int = 0,
    ) -> None:
        if not api_key:
            raise ValueError("a Stripe API key is required")
        import stripe  # heavy: only when a Stripe gateway is actually built

        self._stripe = stripe
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )

    def describe_card(self, token: str) -> CardDetails:
        validate_card_token(token)  # never send a raw number (or junk) to Stripe
        try:
            pm = self._client.v1.payment_methods.retrieve(token)
        except self._stripe.StripeError as e:
            self._raise_mapped(e, token=token)
        card = pm.card
        if pm.type != "card" or card is None:
            raise InvalidCard(f"payment method {token!r} is not a card")
        return CardDetails(token=token, brand=card.brand, last4=card.last4)

    def charge(
        self,
        *,
        amount_cents: int,
        currency: str,
        card_token: str,
        idempotency_key: str,
        description: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        currency = check_charge_request(amount_cents=amount_cents, currency=currency, idempotency_key=idempotency_key)
        validate_card_token(card_token)
        try:
            intent = self._client.v1.payment_intents.create(
                {
                    "amount": amount_cents,
                    "currency": currency,
                    "payment_method": card_token,
                    # No redirect-based methods, so no return_url is needed to confirm.
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    "confirm": True,
                    "off_session": True,
                    "description": description,
                    "metadata": dict(metadata),
                },
                {"idempotency_key": idempotency_key},
            )
        except self._stripe.CardError as e:
            return _declined(e)
        except self._stripe.StripeError as e:
            self._raise_mapped(e, token=card_token)

        if intent.status == "succeeded":
            return ChargeResult(status=ChargeStatus.SUCCEEDED, gateway_reference=intent.id)
        if intent.status in _NOT_CHARGED:
            error = intent.last_payment_error
            code = _failure_code(
                getattr(error, "decline_code", None), getattr(error, "code", None), fallback=intent.status
            )
            return ChargeResult(
                status=ChargeStatus.DECLINED,
                gateway_reference=intent.id,
                failure_code=code,
                failure_message=getattr(error, "message", None) or f"payment {intent.status.replace('_', ' ')}",
            )
        # "processing" / "requires_capture": not a decline, not (yet) money we have.
        raise GatewayTimeout(f"PaymentIntent {intent.id} is {intent.status!r}: outcome not known yet")

    def _raise_mapped(self, e: stripe.StripeError, *, token: str) -> NoReturn:
        s = self._stripe
        status = e.http_status
        message = " ".join((e.user_message or str(e) or type(e).__name__).split())
        if isinstance(e, s.APIConnectionError) or (status is not None and (status >= 500 or status in (409, 429))):
            raise GatewayTimeout(f"Stripe did not answer clearly ({status or 'no response'}): {message}") from e
        if isinstance(e, s.InvalidRequestError) and not isinstance(e, s.IdempotencyError) and _about_card(e):
            raise InvalidCard(f"payment method {token!r} is not usable: {message}") from e
        if isinstance(e, s.APIError) and status is None:
            raise GatewayTimeout(f"Stripe gave no usable answer: {message}") from e
        raise GatewayError(f"Stripe refused the request ({status}): {message}") from e


def _about_card(e: stripe.InvalidRequestError) -> bool:
    """An invalid-request error that is about the payment method (unknown, detached, unusable)."""
    param = getattr(e, "param", None) or ""
    code = e.code or ""
    return (
        param in ("payment_method", "id")
        or param.startswith("payment_method")
        or code.startswith("payment_method")
        or (e.http_status == 404 and code == "resource_missing")
    )


def _declined(e: stripe.CardError) -> ChargeResult:
    error = e.error
    decline_code = getattr(error, "decline_code", None)
    code = _failure_code(decline_code, e.code, fallback="card_declined")
    intent: Any = getattr(error, "payment_intent", None)
    reference = intent.get("id") if hasattr(intent, "get") else getattr(intent, "id", None)
    return ChargeResult(
        status=ChargeStatus.DECLINED,
        gateway_reference=reference if isinstance(reference, str) else None,
        failure_code=code,
        failure_message=e.user_message or getattr(error, "message", None) or "Your card was declined.",
    )


def _failure_code(decline_code: str | None, code: str | None, *, fallback: str) -> str:
    """The issuer's specific reason when there is one, else Stripe's error code."""
    if decline_code and decline_code != "generic_decline":
        return decline_code
    return code or decline_code or fallback
