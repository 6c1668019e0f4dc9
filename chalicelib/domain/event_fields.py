"""What a usage event's fields may hold: id patterns, limits, the metadata value type.

Both the wire schema (event_schema.py: pydantic, loaded when the first event is
parsed) and the event value (events.py: loaded with every handler) need these;
they live here so that neither of the two imports the other at load.
"""

from __future__ import annotations

from decimal import Decimal

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:#/@+=-]*$"
ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
MAX_QUANTITY = Decimal(1_000_000_000)
# DynamoDB stores numbers of at most 38 significant digits; longer ones must be strings.
MAX_METADATA_INT_DIGITS = 38
MAX_METADATA_TEXT = 256

MetadataValue = str | int | bool
