"""Calling a webhook URL, and nothing else: the SSRF rules of domain/webhooks.py, applied at the socket.

The host is resolved once per attempt; every address must be allowed, and the
connection goes to the address that was checked (a name cannot resolve to a
public address for the check and to 169.254.169.254 for the call). TLS is verified
against the URL's host name. Redirects are not followed (a 3xx is a failed
attempt), the whole attempt has TIMEOUT_SECONDS, and the response body is never
read beyond the status line and headers, nor kept.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..domain.webhooks import TIMEOUT_SECONDS, Target, UrlRefused, check_addresses, parse_url

Resolver = Callable[[str, int], list[str]]
USER_AGENT = "ChargesAndUsage-Webhooks/1"


def resolve(host: str, port: int) -> list[str]:
    """Every address the name resolves to (an address literal is itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: str, *, local: bool, resolver: Resolver = resolve) -> Target:
    """The URL if the service may call it now: its shape, and every address its host resolves to."""
    target = parse_url(url, local=local)
    check_addresses(target.host, resolver(target.host, target.port), local=local)
    return target


@dataclass(frozen=True)
class Attempt:
    status: int | None  # the HTTP status, when the receiver answered
    error: str | None  # why there is no answer (refused URL, timeout, connection, TLS)
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    local: bool,
    resolver: Resolver = resolve,
    timeout: float = TIMEOUT_SECONDS,
) -> Attempt:
    """One attempt: POST `body` to `url` if it may be called, to the address that was checked."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = parse_url(url, local=local)
        address = check_addresses(target.host, resolver(target.host, target.port), local=local)[0]
    except UrlRefused as exc:
        return Attempt(None, f"refused: {exc}", took())
    connection = _connection(target, address, timeout)
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        if connection.sock is not None:
            connection.sock.settimeout(max(0.1, timeout - (time.monotonic() - started)))
        response = connection.getresponse()
        return Attempt(response.status, None, took())
    except TimeoutError:
        return Attempt(None, f"timeout after {timeout:g} s", took())
    except ssl.SSLError as exc:
        return Attempt(None, f"TLS: {exc.reason or exc}", took())
    except (OSError, http.client.HTTPException) as exc:
        return Attempt(None, f"connection: {type(exc).__name__}: {exc}"[:300], took())
    finally:
        connection.close()


def _connection(target: Target, address: str, timeout: float) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPS(target.host, target.port, address, timeout)
    return _PinnedHTTP(target.host, target.port, address, timeout)


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to `address`, with the URL's host in the Host header."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to `address`, the certificate checked against the URL's host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
