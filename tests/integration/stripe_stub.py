"""A local stand-in for the few Stripe endpoints the Stripe gateway calls.

A stdlib HTTP server in a thread on a free 127.0.0.1 port, answering with the
response shapes Stripe documents (https://docs.stripe.com/api):

- POST /v1/payment_intents (form-encoded, like Stripe): creates and confirms a
  PaymentIntent. Honours the Idempotency-Key header as Stripe does: the same key
  with the same parameters replays the first answer (with `Idempotent-Replayed:
  true`), the same key with other parameters answers 400 idempotency_error;
  requests refused by validation (400) are not remembered. Declines answer 402
  card_error carrying the declined PaymentIntent (which was created).
- GET /v1/payment_methods/{id}: the card's brand and last 4, or 404 resource_missing.

The test payment-method ids are Stripe's (the simulator's, without its
simulator-only timeout card). `fail_next(n, mode)` makes the next n requests fail:
"error_500" (answered 500 before anything happens), "hang_before" (no answer until
after the client's timeout, nothing happens) or "hang_after" (the request is
carried out, then no answer until after the client's timeout: the charge is taken
but the client never hears). `payment_intents` / `created_count` /
`succeeded_count` tell what was really created.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

FAIL_MODES = ("error_500", "hang_before", "hang_after")


@dataclass(frozen=True)
class StubCard:
    brand: str
    last4: str
    exp_month: int = 12
    exp_year: int = 2034
    # For declines: Stripe's error code, decline_code and message.
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None


STUB_CARDS: Mapping[str, StubCard] = {
    "pm_card_visa": StubCard("visa", "4242"),
    "pm_card_mastercard": StubCard("mastercard", "4444"),
    "pm_card_amex": StubCard("amex", "8431"),
    # Stripe's generic decline: code card_declined, decline_code generic_decline.
    "pm_card_chargeDeclined": StubCard(
        "visa", "0002", code="card_declined", decline_code="generic_decline", message="Your card was declined."
    ),
    "pm_card_chargeDeclinedInsufficientFunds": StubCard(
        "visa",
        "9995",
        code="card_declined",
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedExpiredCard": StubCard(
        "visa", "0069", code="expired_card", decline_code="expired_card", message="Your card has expired."
    ),
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    params: Mapping[str, Any]


@dataclass
class _Stored:
    fingerprint: tuple[tuple[str, str], ...]
    status: int
    body: dict[str, Any]


def _new_id(prefix: str) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(24))


def _decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into nested values: `metadata[k]=v` -> {"metadata": {"k": "v"}}."""
    out: dict[str, Any] = {}
    for raw_key, value in pairs:
        parts = raw_key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _error(status: int, type_: str, message: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    error = {"type": type_, "message": message, **fields}
    if "code" in fields:
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{fields['code'].replace('_', '-')}"
    return status, {"error": error}


class StripeStub:
    """Start with `start()` (or use as a context manager); `url` is the api_base to give the client."""

    def __init__(self, hang_seconds: float = 3.0) -> None:
        self.hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle --------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "stub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StripeStub:
        stub = self

        class Handler(_Handler):
            pass

        Handler.stub = stub
        self._release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="stripe-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # wake any hanging handler
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StripeStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls ----------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.payment_intents: dict[str, dict[str, Any]] = {}
            self.requests: list[RecordedRequest] = []
            self._idempotent: dict[str, _Stored] = {}
            self._failures: list[str] = []

    def fail_next(self, n: int = 1, mode: str = "error_500") -> None:
        """Make the next n requests fail: "error_500", "hang_before" or "hang_after"."""
        if mode not in FAIL_MODES:
            raise ValueError(f"mode must be one of {FAIL_MODES}")
        with self._lock:
            self._failures.extend([mode] * n)

    @property
    def created_count(self) -> int:
        """PaymentIntents really created (a declined one was created too)."""
        with self._lock:
            return len(self.payment_intents)

    @property
    def succeeded_count(self) -> int:
        """PaymentIntents that took money."""
        with self._lock:
            return sum(1 for pi in self.payment_intents.values() if pi["status"] == "succeeded")

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # -- request handling (called from the server's threads) ----------------------------

    def _take_failure(self) -> str | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _hang(self) -> None:
        self._release.wait(self.hang_seconds)

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], pairs: list[tuple[str, str]]
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """(status, body, extra headers), or None to send nothing (the client has given up)."""
        params = _decode_form(pairs)
        with self._lock:
            self.requests.append(RecordedRequest(method, path, dict(headers), params))

        if not headers.get("authorization", "").startswith("Bearer sk_"):
            status, body = _error(401, "invalid_request_error", "You did not provide an API key.")
            return status, body, {}

        failure = self._take_failure()
        if failure == "error_500":
            status, body = _error(500, "api_error", "An unknown error occurred")
            return status, body, {}
        if failure == "hang_before":
            self._hang()
            return None

        if method == "POST" and path == "/v1/payment_intents":
            status, body, extra = self._create_payment_intent(headers.get("idempotency-key"), pairs, params)
        elif method == "GET" and path.startswith("/v1/payment_methods/"):
            status, body = self._retrieve_payment_method(unquote(path.removeprefix("/v1/payment_methods/")))
            extra = {}
        else:
            status, body = _error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")
            extra = {}

        if failure == "hang_after":
            self._hang()
            return None
        return status, body, extra

    def _retrieve_payment_method(self, pm_id: str) -> tuple[int, dict[str, Any]]:
        card = STUB_CARDS.get(pm_id)
        if card is None:
            return _error(
                404,
                "invalid_request_error",
                f"No such PaymentMethod: '{pm_id}'",
                code="resource_missing",
                param="payment_method",
            )
        return 200, _payment_method(pm_id, card)

    def _create_payment_intent(
        self, key: str | None, pairs: list[tuple[str, str]], params: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        fingerprint = tuple(sorted(pairs))
        with self._lock:
            if key is not None and key in self._idempotent:
                stored = self._idempotent[key]
                if stored.fingerprint != fingerprint:
                    status, body = _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters they were first"
                        f" used with. Try using a key other than '{key}' if you meant to execute a different request.",
                    )
                    return status, body, {}
                return stored.status, stored.body, {"Idempotent-Replayed": "true"}

            refused = _validate_payment_intent(params)
            if refused is not None:  # validation failures are not remembered under the key
                return refused[0], refused[1], {}

            status, body = self._confirm(params)
            if key is not None:
                self._idempotent[key] = _Stored(fingerprint, status, body)
            return status, body, {}

    def _confirm(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Create the PaymentIntent and confirm it (called with the lock held)."""
        pm_id = params["payment_method"]
        card = STUB_CARDS[pm_id]
        pi_id = _new_id("pi_")
        confirm = params.get("confirm") == "true"
        declined = confirm and card.code is not None
        status = "succeeded" if confirm and not declined else "requires_payment_method"
        if not confirm:
            status = "requires_confirmation"
        charge_id = _new_id("ch_") if confirm else None
        amount = int(params["amount"])
        intent: dict[str, Any] = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": amount if status == "succeeded" else 0,
            "automatic_payment_methods": _automatic_payment_methods(params),
            "canceled_at": None,
            "capture_method": "automatic",
            "client_secret": f"{pi_id}_secret_{secrets.token_hex(12)}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": params["currency"],
            "customer": params.get("customer"),
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": charge_id,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "next_action": None,
            "payment_method": pm_id,
            "payment_method_types": ["card"],
            "status": status,
        }
        if declined:
            error = {
                "type": "card_error",
                "code": card.code,
                "decline_code": card.decline_code,
                "message": card.message,
                "charge": charge_id,
                "doc_url": f"https://stripe.com/docs/error-codes/{(card.code or '').replace('_', '-')}",
                "payment_method": _payment_method(pm_id, card),
            }
            intent["last_payment_error"] = dict(error)
            self.payment_intents[pi_id] = intent
            return 402, {"error": {**error, "payment_intent": intent}}
        self.payment_intents[pi_id] = intent
        return 200, intent


def _automatic_payment_methods(params: Mapping[str, Any]) -> dict[str, Any] | None:
    apm = params.get("automatic_payment_methods")
    if not isinstance(apm, dict):
        return None
    return {"enabled": apm.get("enabled") == "true", "allow_redirects": apm.get("allow_redirects", "always")}


def _validate_payment_intent(params: Mapping[str, Any]) -> tuple[int, dict[str, Any]] | None:
    amount = params.get("amount")
    if amount is None:
        return _error(
            400, "invalid_request_error", "Missing required param: amount.", code="parameter_missing", param="amount"
        )
    if not isinstance(amount, str) or not amount.isdigit():
        return _error(
            400,
            "invalid_request_error",
            "Invalid integer: " + str(amount),
            code="parameter_invalid_integer",
            param="amount",
        )
    if int(amount) < 50:
        return _error(
            400,
            "invalid_request_error",
            "Amount must be at least $0.50 usd",
            code="amount_too_small",
            param="amount",
        )
    currency = params.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha() or currency != currency.lower():
        return _error(
            400,
            "invalid_request_error",
            f"Invalid currency: {currency}.",
            code="parameter_invalid_string",
            param="currency",
        )
    pm_id = params.get("payment_method")
    if not isinstance(pm_id, str) or pm_id not in STUB_CARDS:
        return _error(
            400,
            "invalid_request_error",
            f"No such PaymentMethod: '{pm_id}'",
            code="resource_missing",
            param="payment_method",
        )
    if params.get("confirm") == "true":
        apm = params.get("automatic_payment_methods")
        redirects_off = isinstance(apm, dict) and apm.get("allow_redirects") == "never"
        if not redirects_off and "return_url" not in params:
            return _error(
                400,
                "invalid_request_error",
                "This PaymentIntent is configured to accept payment methods enabled in your Dashboard, some of which"
                " may require a full page redirect to succeed. If you do not want to accept redirect-based payment"
                " methods, set `automatic_payment_methods[enabled]` to `true` and"
                " `automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment"
                " Intents.",
            )
    return None


def _payment_method(pm_id: str, card: StubCard) -> dict[str, Any]:
    return {
        "id": pm_id,
        "object": "payment_method",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": {
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "display_brand": card.brand,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": "stub" + card.last4,
            "funding": "credit",
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "wallet": None,
        },
        "created": 1700000000,
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


class _Handler(BaseHTTPRequestHandler):
    stub: StripeStub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        self._dispatch("GET", split.path, parse_qsl(split.query, keep_blank_values=True))

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        self._dispatch("POST", split.path, parse_qsl(raw, keep_blank_values=True))

    def _dispatch(self, method: str, path: str, pairs: list[tuple[str, str]]) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.stub.handle(method, path, headers, pairs)
        if answer is None:
            self.close_connection = True
            return
        status, body, extra = answer
        data = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", _new_id("req_"))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
