import pytest

from chalicelib.domain.cursor import CursorError, decode_cursor, derive_cursor_key, encode_cursor

KEY = derive_cursor_key("secret")
POSITION = {"event_id": {"S": "e1"}, "account_id": {"S": "a1"}, "posted_key": {"S": "2026-11-26T00:00:00.000000Z#1"}}


def test_round_trip():
    cursor = encode_cursor(KEY, "account:a1", {"from": "2026-11-01"}, POSITION)
    assert decode_cursor(KEY, "account:a1", {"from": "2026-11-01"}, cursor) == POSITION


@pytest.mark.parametrize(
    ("scope", "query", "key"),
    [
        ("account:a2", {"from": "2026-11-01"}, KEY),  # another account
        ("account:a1", {"from": "2026-10-01"}, KEY),  # another query
        ("account:a1", {"from": "2026-11-01"}, derive_cursor_key("other")),  # another deployment
    ],
)
def test_foreign_cursors_are_refused(scope, query, key):
    cursor = encode_cursor(KEY, "account:a1", {"from": "2026-11-01"}, POSITION)
    with pytest.raises(CursorError):
        decode_cursor(key, scope, query, cursor)


@pytest.mark.parametrize("bad", ["", "x", "!!!!", "eyJ9", "a" * 500])
def test_garbage_is_refused(bad):
    with pytest.raises(CursorError):
        decode_cursor(KEY, "account:a1", {}, bad)


def test_tampered_cursor_is_refused():
    cursor = encode_cursor(KEY, "account:a1", {}, POSITION)
    tampered = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    with pytest.raises(CursorError):
        decode_cursor(KEY, "account:a1", {}, tampered)
