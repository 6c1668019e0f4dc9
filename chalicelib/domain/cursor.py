"""Opaque pagination cursors, signed and bound to the query they came from.

A cursor carries the last key read plus a digest of the scope and filters; it is
HMAC-signed, so a tampered cursor, or one from another account or query, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


class CursorError(ValueError):
    pass


def _query_digest(scope: str, query: Mapping[str, object]) -> str:
    canonical = json.dumps({"scope": scope, "query": query}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _sign(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:16]


def encode_cursor(key: bytes, scope: str, query: Mapping[str, object], position: Mapping[str, Any]) -> str:
    payload = json.dumps({"q": _query_digest(scope, query), "p": position}, separators=(",", ":")).encode()
    token = payload + _sign(key, payload)
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def decode_cursor(key: bytes, scope: str, query: Mapping[str, object], cursor: str) -> dict[str, Any]:
    """The position inside the cursor, if it is ours and was made for this same query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError):
        raise CursorError("cursor is not valid") from None
    payload, signature = raw[:-16], raw[-16:]
    if len(raw) <= 16 or not hmac.compare_digest(signature, _sign(key, payload)):
        raise CursorError("cursor is not valid")
    data = json.loads(payload)
    if data.get("q") != _query_digest(scope, query):
        raise CursorError("cursor belongs to another query")
    position = data.get("p")
    if not isinstance(position, dict):
        raise CursorError("cursor is not valid")
    return position


def derive_cursor_key(secret: str) -> bytes:
    """A key of its own for cursors, so a cursor signature is never a token signature."""
    return hmac.new(secret.encode(), b"billing-cursor-v1", hashlib.sha256).digest()
