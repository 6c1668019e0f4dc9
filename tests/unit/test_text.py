"""Text from outside: control characters, line separators and lone surrogates are refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.accounts import is_email_address
from chalicelib.domain.text import TextError, check_text, text_problem

REFUSED = ["\r", "\n", "\r\n", "\t", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9f", "\u2028", "\u2029", "\ud800"]


@pytest.mark.parametrize("char", REFUSED)
def test_control_characters_line_separators_and_surrogates_are_refused(char):
    for text in (char, f"Acme{char}Plumbing", f"Acme{char}", f"{char}Acme"):
        problem = text_problem(text)
        assert problem is not None and f"U+{ord(char[0]):04X}" in problem
    with pytest.raises(TextError, match=r"^name: "):
        check_text(f"Acme{char}Bcc: victim@example.com", "name")


@pytest.mark.parametrize(
    "text",
    ["Acme Plumbing", "Café Zoë", "Ünïcødé ñame", "株式会社", "مرحبا", "🙂 emoji", "a\u00a0b", "", "(555) 010-7788"],
)
def test_ordinary_text_of_any_script_is_kept(text):
    assert check_text(text, "name") == text


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))))
def test_text_without_controls_is_always_accepted(text):
    assert text_problem(text) is None


@given(st.text(), st.sampled_from(REFUSED), st.text())
def test_one_refused_character_anywhere_is_enough(before, char, after):
    assert text_problem(before + char + after) is not None


@pytest.mark.parametrize(
    "address",
    [
        "billing@acme.example\n",  # the pattern's `$` let a trailing newline through
        "billing@acme.example\r\nBcc: x@evil.example",
        "bil\x00ling@acme.example",
        "bil\x7fling@acme.example",
        "bil\x85ling@acme.example",
        "bil\u2028ling@acme.example",
        "billing@acme.example\u2029",
    ],
)
def test_email_addresses_with_control_characters_are_refused(address):
    assert not is_email_address(address)


def test_ordinary_email_addresses_are_kept():
    assert is_email_address("billing@acme.example")
    assert is_email_address("zoë+billing@acme.example")
