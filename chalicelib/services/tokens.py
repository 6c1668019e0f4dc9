"""Bearer tokens: HS256 JWTs carrying who the caller is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from ..domain.access import Principal, Role

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "account_id", "role", "exp"]
# A little slack for clocks that disagree by a few seconds.
LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    """Why a token was refused; the message never quotes the token."""


_REASONS: dict[type[Exception], str] = {
    jwt.InvalidSignatureError: "token signature does not verify",
    jwt.DecodeError: "token is malformed",
    jwt.InvalidAlgorithmError: "token algorithm is not allowed",
    jwt.ImmatureSignatureError: "token is not valid yet",
    jwt.InvalidIssuedAtError: "token has an invalid issued-at time",
}


def issue_token(secret: str, subject: str, account_id: str, role: Role | str, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        "account_id": account_id,
        "role": Role(role).value,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(header_value: str, secret: str) -> tuple[Principal, int]:
    """The principal and expiry (epoch seconds) of a valid `Bearer <jwt>` header."""
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("expected 'Authorization: Bearer <token>'")
    try:
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=[ALGORITHM],
            options={"require": REQUIRED_CLAIMS},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token has expired") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"token lacks the {exc.claim!r} claim") from None
    except jwt.PyJWTError as exc:
        # A fixed message per kind of failure: PyJWT's own may quote parts of the token.
        raise InvalidToken(_REASONS.get(type(exc), "token is not valid")) from None
    try:
        role = Role(claims["role"])
    except ValueError:
        raise InvalidToken("token has an unknown role") from None
    subject, account_id = claims["sub"], claims["account_id"]
    if not isinstance(subject, str) or not isinstance(account_id, str) or not account_id:
        raise InvalidToken("token claims sub and account_id must be strings")
    return Principal(subject=subject, account_id=account_id, role=role), int(claims["exp"])
