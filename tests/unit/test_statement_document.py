"""The statement's stored document: read into a Statement and written back, it is the same document.

tests/unit/data/statement_documents.json holds documents as the code before the typed Statement
stored them (an agency's scheduled statement with own-billing rows and a failed charge; an
account's statement of a period still running, with adjustments and a posting-date difference;
and one stored before the company block and the own-billing rows' currency were kept).
tests/unit/data/statement_api_views.json holds the JSON the API returned for each of them then.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.statement import Statement, StatementDoesNotReconcile
from chalicelib.domain.statements import check_statement_arithmetic, document_seal
from chalicelib.services.statements.read import _api_view

DATA = Path(__file__).parent / "data"
DOCUMENTS: dict[str, dict[str, Any]] = json.loads((DATA / "statement_documents.json").read_text())
API_VIEWS: dict[str, str] = json.loads((DATA / "statement_api_views.json").read_text())


def _stored(doc: dict[str, Any]) -> bytes:
    """As the repository encodes it (adapters/statements_repo.py, before compression)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_a_stored_document_read_and_written_back_is_the_same_document(name: str) -> None:
    doc = DOCUMENTS[name]
    statement = Statement.from_json(doc)
    assert statement.to_json() == doc
    assert _stored(statement.to_json()) == _stored(doc)
    key = b"k" * 32
    assert document_seal(key, statement.to_json()) == document_seal(key, doc)  # its seal still holds
    assert Statement.from_json(statement.to_json()) == statement
    check_statement_arithmetic(statement)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_the_api_shows_a_stored_statement_as_it_did(name: str) -> None:
    statement = Statement.from_json(json.loads(_stored(DOCUMENTS[name])))
    assert json.dumps(_api_view(statement), separators=(",", ":"), ensure_ascii=False) == API_VIEWS[name]


def test_parts_a_document_stored_before_they_were_kept_stay_absent() -> None:
    old = Statement.from_json(DOCUMENTS["agency_before_issuer_and_row_currency"])
    assert old.issuer is None and {row.currency for row in old.own_billing_accounts} == {None}
    assert "issuer" not in old.to_json()
    assert all("currency" not in row for row in old.to_json()["own_billing_accounts"])
    new = Statement.from_json(DOCUMENTS["agency_scheduled"])
    assert new.issuer is not None and new.issuer.tax_id is None
    assert [row.currency for row in new.own_billing_accounts] == ["USD", "EUR"]
    line = Statement.from_json(DOCUMENTS["account_in_progress"]).debits[-1]
    assert line.key == "posting_difference" and line.note and "note" in line.to_json()


def _copy(doc: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(doc))
    return copy


def _without(doc: dict[str, Any], *path: str | int) -> dict[str, Any]:
    copy = _copy(doc)
    target: Any = copy
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return copy


def _with(doc: dict[str, Any], value: object, *path: str | int) -> dict[str, Any]:
    copy = _copy(doc)
    target: Any = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


DOC = DOCUMENTS["agency_scheduled"]


@pytest.mark.parametrize(
    "broken",
    [
        _without(DOC, "closing_balance_cents"),
        _without(DOC, "period", "in_progress"),
        _without(DOC, "credits", 0, "amount_cents"),
        _without(DOC, "accounts", 1, "usage", 0, "unit"),
        _with(DOC, "12.50", "opening_balance_micros"),  # a number as text
        _with(DOC, True, "usage", 0, "count"),  # a boolean is not a count
        _with(DOC, 1.5, "debits", 0, "amount_cents"),  # money is never a float
        _with(DOC, "yesterday", "built_at"),
        _with(DOC, "2026-13-01", "period", "from"),
        _with(DOC, {"0": {}}, "card_charges"),
        _with(DOC, "1 Main St", "issuer", "address"),
        _with(DOC, None, "account"),
    ],
)
def test_a_document_that_is_not_a_statement_is_refused_as_incomplete(broken: dict[str, Any]) -> None:
    with pytest.raises(StatementDoesNotReconcile, match="incomplete"):
        Statement.from_json(broken)


def test_a_document_that_does_not_add_up_reads_but_is_refused_by_the_check() -> None:
    statement = Statement.from_json(_with(DOC, DOC["closing_balance_micros"] + 1, "closing_balance_micros"))
    with pytest.raises(StatementDoesNotReconcile, match="closing"):
        check_statement_arithmetic(statement)
