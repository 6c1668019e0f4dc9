"""Webhooks: the event envelope, its signature, the retry schedule, and which URLs may be called.

A webhook is a POST of `{"id", "type", "created_at", "account_id", "data"}` signed with
the endpoint's secret: `Billing-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>">` (README: how a receiver checks it). Every attempt of one event
sends the same `id`, so a receiver drops repeats; attempts follow RETRY_DELAYS,
about 24 hours in all, and an event still undelivered after the last is dead-lettered.

Which URLs: the service calls them from inside AWS, so a URL is a way in for anyone
who can set one (SSRF). Outside the local stage only `https` to public addresses
(no loopback, private, link-local such as the metadata service 169.254.169.254,
shared, reserved or multicast ranges), checked when the URL is set and again, on
the addresses it resolves to then, at every delivery. The local stage also allows
loopback (`http://127.0.0.1`, `localhost`) so tests and `make run` can receive them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_HEADER = "Billing-Signature"
SIGNATURE_VERSION = "v1"
MAX_URL_LENGTH = 2048
TIMEOUT_SECONDS = 5.0
# Seconds to wait after each failed attempt: 8 attempts over about 24 hours (23.6). Each wait is the
# visibility timeout of a received message, which SQS caps at 12 hours from the receive: 11 at most.
RETRY_DELAYS = (60, 300, 1_800, 2 * 3_600, 4 * 3_600, 6 * 3_600, 11 * 3_600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class EventType(StrEnum):
    USAGE_ALERT_TRIGGERED = "usage_alert.triggered"
    BALANCE_LOW = "balance.low"
    BALANCE_PAST_DUE = "balance.past_due"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    AUTO_RECHARGE_PAUSED = "auto_recharge.paused"
    STATEMENT_SENT = "statement.sent"


def new_secret() -> str:
    """A webhook signing secret: shown once, when the URL is set."""
    return "whsec_" + secrets.token_hex(24)


def event_id_for(event_type: EventType, key: str) -> str:
    """The same event always gets the same id (a retried worker emits it again, unchanged)."""
    return "evt_" + hashlib.sha256(f"{event_type.value}\x00{key}".encode()).hexdigest()[:24]


def envelope(event_id: str, event_type: str, created_at: datetime, account_id: str, data: Mapping[str, Any]) -> bytes:
    """The body as sent: compact JSON, keys in a fixed order."""
    from .periods import format_instant

    body = {
        "id": event_id,
        "type": event_type,
        "created_at": format_instant(created_at),
        "account_id": account_id,
        "data": dict(data),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Billing-Signature header's value for a body sent at `timestamp` (unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},{SIGNATURE_VERSION}={digest}"


def retry_delay(attempts_made: int) -> int | None:
    """Seconds until the next attempt after `attempts_made` failed ones; None: that was the last."""
    if attempts_made < 1 or attempts_made >= MAX_ATTEMPTS:
        return None
    return RETRY_DELAYS[attempts_made - 1]


# -- which URLs --------------------------------------------------------------------------------------


class UrlRefused(ValueError):
    """A webhook URL the service will not call; the message says why."""


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # lower case, without brackets
    port: int
    path: str  # path and query, as sent in the request line


def parse_url(url: str, *, local: bool) -> Target:
    """The URL's parts, if its shape is one the service calls (addresses are checked apart)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"webhook_url: must be a URL of at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UrlRefused("webhook_url: must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("webhook_url: not a valid URL") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise UrlRefused("webhook_url: must name a host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("webhook_url: must not carry a user name or password")
    if scheme == "http" and not (local and is_loopback_host(host)):
        raise UrlRefused("webhook_url: must use https" + (" (or http to 127.0.0.1 or localhost)" if local else ""))
    if scheme not in ("http", "https"):
        raise UrlRefused("webhook_url: must use https")
    literal = _literal_address(host)
    if literal is not None and not address_allowed(literal, local=local):
        raise UrlRefused(f"webhook_url: {host} is not a public address")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url, scheme, host, port or (443 if scheme == "https" else 80), path)


def is_loopback_host(host: str) -> bool:
    literal = _literal_address(host)
    return host in LOOPBACK_NAMES or (literal is not None and literal.is_loopback)


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address | str, *, local: bool) -> bool:
    """A public unicast address (or, on the local stage, loopback too)."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
    if local and ip.is_loopback:
        return True
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_addresses(host: str, addresses: Iterable[str], *, local: bool) -> list[str]:
    """The addresses a host resolved to, if every one may be called (any other refuses the URL)."""
    found = list(dict.fromkeys(addresses))
    if not found:
        raise UrlRefused(f"webhook_url: {host} does not resolve")
    refused = [a for a in found if not address_allowed(a, local=local)]
    if refused:
        raise UrlRefused(f"webhook_url: {host} resolves to {refused[0]}, which is not a public address")
    return found
