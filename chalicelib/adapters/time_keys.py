"""Range conditions on sort keys that start with an RFC 3339 instant ("<instant>#<suffix>")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain.periods import format_instant


def instant_range(attribute: Any, start: datetime | None, end: datetime | None) -> Any:
    """[start, end) on a key "<instant>#...": a key at `end` itself sorts above the bare
    "<end>" text, so BETWEEN start AND end leaves it out. None when unbounded."""
    if start is not None and end is not None:
        return attribute.between(format_instant(start), format_instant(end))
    if start is not None:
        return attribute >= format_instant(start)
    if end is not None:
        return attribute < format_instant(end)
    return None
