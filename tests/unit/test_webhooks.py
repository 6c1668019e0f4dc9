"""Webhooks without AWS: the signature, the retry schedule, and which URLs may be called (SSRF)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from chalicelib.adapters.webhook_client import check_url, post
from chalicelib.domain.webhooks import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    EventType,
    UrlRefused,
    address_allowed,
    envelope,
    event_id_for,
    parse_url,
    retry_delay,
    signature,
)


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_raw_body():
    body = envelope("evt_1", "balance.low", datetime(2026, 12, 1, tzinfo=UTC), "acct_1", {"balance": "4.00"})
    assert json.loads(body) == {
        "id": "evt_1",
        "type": "balance.low",
        "created_at": "2026-12-01T00:00:00.000000Z",
        "account_id": "acct_1",
        "data": {"balance": "4.00"},
    }
    header = signature("whsec_abc", 1_764_547_200, body)
    expected = hmac.new(b"whsec_abc", b"1764547200." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1764547200,v1={expected}"
    assert event_id_for(EventType.BALANCE_LOW, "a:7") == event_id_for(EventType.BALANCE_LOW, "a:7")
    assert event_id_for(EventType.BALANCE_LOW, "a:7") != event_id_for(EventType.BALANCE_PAST_DUE, "a:7")


def test_eight_attempts_over_about_a_day():
    assert [retry_delay(n) for n in range(1, MAX_ATTEMPTS)] == list(RETRY_DELAYS)
    assert retry_delay(MAX_ATTEMPTS) is None and MAX_ATTEMPTS == 8
    assert 22 * 3600 <= sum(RETRY_DELAYS) <= 24 * 3600


REFUSED_ADDRESSES = ["127.0.0.1", "10.0.0.1", "169.254.169.254", "192.168.1.10", "172.16.0.5", "100.64.0.1",
                     "0.0.0.0", "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "224.0.0.1"]  # fmt: skip


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_private_loopback_link_local_and_metadata_addresses_are_refused_outside_the_local_stage(address: str):
    assert not address_allowed(address, local=False)
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(UrlRefused):
        check_url(f"https://{host}/hook", local=False, resolver=lambda *_: [address])


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254"])
def test_a_name_resolving_to_them_is_refused(address: str):
    with pytest.raises(UrlRefused, match="not a public address"):
        check_url("https://hooks.example.com/billing", local=False, resolver=lambda *_: [address])
    # A name with one good address and one bad one is refused too (the bad one could be the one used).
    with pytest.raises(UrlRefused):
        check_url("https://hooks.example.com/billing", local=False, resolver=lambda *_: ["93.184.216.34", address])


def test_only_https_to_public_addresses_outside_the_local_stage():
    assert (
        check_url("https://hooks.example.com/b?x=1", local=False, resolver=lambda *_: ["93.184.216.34"]).path
        == "/b?x=1"
    )
    for url, reason in [
        ("http://hooks.example.com/b", "https"),
        ("ftp://hooks.example.com/b", "https"),
        ("https://user:pw@hooks.example.com/b", "user name"),
        ("https:///b", "host"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com:99999/", "valid URL"),
    ]:
        with pytest.raises(UrlRefused, match=reason):
            parse_url(url, local=False)
    with pytest.raises(UrlRefused, match="does not resolve"):
        check_url("https://nowhere.invalid/", local=False, resolver=lambda *_: [])


def test_the_local_stage_also_allows_loopback_so_tests_and_make_run_can_receive():
    assert check_url("http://127.0.0.1:9000/h", local=True, resolver=lambda *_: ["127.0.0.1"]).port == 9000
    assert (
        check_url("http://localhost:9000/h", local=True, resolver=lambda *_: ["127.0.0.1", "::1"]).host == "localhost"
    )
    with pytest.raises(UrlRefused):
        check_url("http://10.0.0.1/h", local=True, resolver=lambda *_: ["10.0.0.1"])
    with pytest.raises(UrlRefused):
        check_url("http://localhost/h", local=False, resolver=lambda *_: ["127.0.0.1"])


def test_a_delivery_checks_the_address_again_and_never_connects_to_a_refused_one(monkeypatch: pytest.MonkeyPatch):
    """The name resolved to a public address when it was set; now it resolves to the metadata service."""
    import socket

    def no_connection(*_: object, **__: object) -> None:
        raise AssertionError("connected to a refused address")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    attempt = post("https://hooks.example.com/b", b"{}", {}, local=False, resolver=lambda *_: ["169.254.169.254"])
    assert attempt.status is None and attempt.error is not None and attempt.error.startswith("refused")
    assert not attempt.delivered
