"""Text that enters from outside (names, descriptions, emails, metadata): what is refused.

Control characters are refused wherever people's text is stored: a CR or LF in an
account name ends up in an email subject (where it would inject headers, so the
mailer refuses to send), a NUL or an unpaired surrogate cannot be stored or encoded
at all, and U+2028/U+2029 break lines in the JSON and scripts that show them.
"""

from __future__ import annotations

import unicodedata

# U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: line breaks that are not Cc.
_LINE_BREAKS = frozenset("\u2028\u2029")


class TextError(ValueError):
    """Text that cannot be stored; the message names the field and the character."""


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None when it can.

    Refused: C0 and C1 control characters and DEL (Unicode category Cc, which
    includes CR, LF, TAB and NUL), U+2028/U+2029, and unpaired surrogates (Cs:
    they cannot be encoded as UTF-8).
    """
    for char in value:
        if char in _LINE_BREAKS:
            return f"must not contain a line break (U+{ord(char):04X})"
        category = unicodedata.category(char)
        if category == "Cc":
            return f"must not contain control characters (U+{ord(char):04X})"
        if category == "Cs":
            return f"must not contain an unpaired surrogate (U+{ord(char):04X})"
    return None


def check_text(value: str, field: str) -> str:
    """`value` itself when it can be stored as text; TextError naming `field` otherwise."""
    problem = text_problem(value)
    if problem is not None:
        raise TextError(f"{field}: {problem}")
    return value


# The same rule for JSON Schema (the OpenAPI document), so clients and API fuzzers
# know it (unpaired surrogates, which no schema pattern can name, are refused too).
NO_CONTROL_CHARACTERS_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"
