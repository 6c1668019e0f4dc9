"""services/cursors.py: cursors signed with the stack's secret and bound to their query."""

from __future__ import annotations

import pytest

from chalicelib.services.cursors import next_cursor, resume_after
from chalicelib.services.errors import BadRequest
from tests.unit.services.reports.conftest import World

pytestmark = pytest.mark.usefixtures("world")

QUERY = {"start": "2026-03-01", "end": "2026-03-31", "limit": 50}


def test_no_cursor_starts_at_the_beginning_and_no_last_key_ends_the_list() -> None:
    assert resume_after("payments#acct_a", QUERY, None) is None
    assert resume_after("payments#acct_a", QUERY, "") is None
    assert next_cursor("payments#acct_a", QUERY, None) is None
    assert next_cursor("payments#acct_a", QUERY, {}) is None


def test_a_cursor_resumes_where_its_page_ended() -> None:
    last_key = {"pk": "acct_a", "sk": "2026-03-02T10:00:00Z#pay_1", "n": 3}
    cursor = next_cursor("payments#acct_a", QUERY, last_key)
    assert cursor is not None
    assert resume_after("payments#acct_a", dict(QUERY), cursor) == last_key


@pytest.mark.parametrize(
    ("scope", "query", "message"),
    [
        ("payments#acct_b", QUERY, "cursor belongs to another query"),  # another account's
        ("payments#acct_a", {**QUERY, "end": "2026-04-30"}, "cursor belongs to another query"),
        ("statements#acct_a", QUERY, "cursor belongs to another query"),
    ],
)
def test_a_cursor_of_another_query_is_a_400(scope: str, query: dict[str, object], message: str) -> None:
    cursor = next_cursor("payments#acct_a", QUERY, {"after": ["x", 1]})
    assert cursor is not None
    with pytest.raises(BadRequest, match=message) as refused:
        resume_after(scope, query, cursor)
    assert refused.value.status == 400


@pytest.mark.parametrize("cursor", ["not-a-cursor", "%%%", "QUJD"])
def test_a_forged_or_garbled_cursor_is_a_400(cursor: str) -> None:
    with pytest.raises(BadRequest, match="cursor is not valid"):
        resume_after("payments#acct_a", QUERY, cursor)


def test_a_tampered_cursor_is_a_400() -> None:
    cursor = next_cursor("payments#acct_a", QUERY, {"after": ["row", 1]})
    assert cursor is not None
    flipped = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    with pytest.raises(BadRequest, match="cursor is not valid"):
        resume_after("payments#acct_a", QUERY, flipped)


def test_a_cursor_signed_under_another_secret_is_refused(world: World) -> None:
    cursor = next_cursor("payments#acct_a", QUERY, {"after": ["row", 1]})
    world.secrets.jwt = "another-secret-0123456789abcdef0123"  # the secret was rotated
    with pytest.raises(BadRequest, match="cursor is not valid"):
        resume_after("payments#acct_a", QUERY, cursor)
