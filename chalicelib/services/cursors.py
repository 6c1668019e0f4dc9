"""Pagination cursors for the list endpoints: signed, and bound to the query they came from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..domain.cursor import CursorError, decode_cursor, derive_cursor_key, encode_cursor
from .errors import BadRequest
from .stores import stores


def _key() -> bytes:
    return derive_cursor_key(stores().secrets.jwt_secret())


def resume_after(scope: str, query: Mapping[str, object], cursor: str | None) -> dict[str, Any] | None:
    """Where a `?cursor=` resumes, or None without one; 400 for a tampered or foreign cursor."""
    if not cursor:
        return None
    try:
        return decode_cursor(_key(), scope, query, cursor)
    except CursorError as exc:
        raise BadRequest(str(exc)) from None


def next_cursor(scope: str, query: Mapping[str, object], last_key: Mapping[str, Any] | None) -> str | None:
    return encode_cursor(_key(), scope, query, last_key) if last_key else None
