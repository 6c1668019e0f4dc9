"""Bearer tokens: what verifies, and the reason given for everything that does not."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest

from chalicelib.domain.access import Role
from chalicelib.services.tokens import InvalidToken, issue_token, verify_token

SECRET = "s" * 32


def bearer(token: str) -> str:
    return f"Bearer {token}"


def claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {"sub": "ann", "account_id": "acct-1", "role": "admin", "iat": now, "exp": now + 600}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_an_issued_token_verifies_as_its_principal_with_its_expiry() -> None:
    token = issue_token(SECRET, "ann", "acct-1", Role.VIEWER, timedelta(minutes=5))
    principal, expires = verify_token(bearer(token), SECRET)
    assert (principal.subject, principal.account_id, principal.role) == ("ann", "acct-1", Role.VIEWER)
    assert 0 < expires - time.time() <= 300


def test_the_scheme_is_case_insensitive_and_whitespace_is_forgiven() -> None:
    token = issue_token(SECRET, "ann", "acct-1", "admin", timedelta(minutes=5))
    assert verify_token(f"  bearer   {token} ", SECRET)[0].role is Role.ADMIN


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer   ", "Basic abc", "Token abc"])
def test_a_header_that_is_not_a_bearer_token_is_refused(header: str) -> None:
    with pytest.raises(InvalidToken, match="expected 'Authorization: Bearer <token>'"):
        verify_token(header, SECRET)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (jwt.encode(claims(), "another secret of 32 characters!", algorithm="HS256"), "signature does not verify"),
        ("not.a.jwt", "malformed"),
        (jwt.encode(claims(exp=int(time.time()) - 120), SECRET, algorithm="HS256"), "has expired"),
        (jwt.encode(claims(nbf=int(time.time()) + 3600), SECRET, algorithm="HS256"), "not valid yet"),
        (jwt.encode(claims(iat="yesterday"), SECRET, algorithm="HS256"), "invalid issued-at"),
        (jwt.encode(claims(role=None), SECRET, algorithm="HS256"), "lacks the 'role' claim"),
        (jwt.encode(claims(role="owner"), SECRET, algorithm="HS256"), "unknown role"),
        (jwt.encode(claims(account_id=""), SECRET, algorithm="HS256"), "must be strings"),
        (jwt.encode(claims(sub=7), SECRET, algorithm="HS256"), "token is not valid"),  # PyJWT checks sub
        (jwt.encode(claims(), SECRET, algorithm="HS512"), "algorithm is not allowed"),
        (jwt.encode(claims(), "", algorithm="none"), "algorithm is not allowed"),
    ],
)
def test_each_refusal_says_why_and_never_quotes_the_token(token: str, reason: str) -> None:
    with pytest.raises(InvalidToken) as refused:
        verify_token(bearer(token), SECRET)
    assert reason in str(refused.value)
    assert token not in str(refused.value)


def test_a_token_expired_within_the_leeway_still_verifies() -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256")
    assert verify_token(bearer(token), SECRET)[0].subject == "ann"
