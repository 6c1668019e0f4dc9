"""Templates and filters: escaping, money, local times, strict undefined, cold-start imports."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from chalicelib import rendering
from chalicelib.domain.payments import Payment, PaymentKind, PaymentStatus
from chalicelib.rendering import (
    card_label,
    datetime_local,
    failure_text,
    inline_css,
    money,
    render,
    render_email,
    reset_environment,
    templates_dir,
)

ROOT = Path(__file__).resolve().parents[2]
EVIL = "<script>alert('pwned')</script> & <b>Co</b>"
ESCAPED_MARKERS = ("&lt;script&gt;", "&amp;", "&lt;b&gt;Co&lt;/b&gt;")


@pytest.fixture(autouse=True)
def fresh_environment():
    reset_environment()
    yield
    reset_environment()


def payment(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "payment_id": "pay_0123456789",
        "created_at": "2026-11-26T09:00:00Z",
        "kind": "auto_recharge",
        "amount_micros": 25_000_000,
        "currency": "USD",
        "status": "succeeded",
        "card_brand": "visa",
        "card_last4": "4242",
        "gateway_reference": "pi_3Nabc",
        "failure_reason": None,
    }
    return base | overrides


def receipt_context(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "account_name": "Acme Plumbing",
        "billing_account_id": "acct_acme",
        "time_zone": "America/New_York",
        "payment": payment(),
        "balance_after_micros": 37_500_000,
    }
    return base | overrides


def declined_context(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "account_name": "Acme Plumbing",
        "billing_account_id": "acct_acme",
        "time_zone": "America/New_York",
        "payment": payment(
            status="failed",
            card_last4="0002",
            gateway_reference=None,
            failure_reason="Your card has insufficient funds.",
        ),
        "consecutive_declines": 1,
        "paused": False,
        "cooldown_until": "2026-11-26T15:00:00Z",
    }
    return base | overrides


def low_balance_context(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "account_name": "Acme Plumbing",
        "billing_account_id": "acct_acme",
        "balance_micros": 8_204_999,
        "threshold_micros": 10_000_000,
        "currency": "USD",
        "runway_days": "4.5",
    }
    return base | overrides


# -- filters ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("micros", "currency", "expected"),
    [
        (12_500_000, "USD", "$12.50"),
        (12_505_000, "USD", "$12.51"),  # half-up to the cent
        (12_504_999, "USD", "$12.50"),
        (-3_000_000, "usd", "-$3.00"),
        (-4_000, "USD", "$0.00"),  # no negative zero
        (1_234_567_890_000, "USD", "$1,234,567.89"),
        (0, "EUR", "€0.00"),
        (99_995_000, "GBP", "£100.00"),
        (5_000_000, "CAD", "CA$5.00"),
        (5_000_000, "AUD", "A$5.00"),
        (12_500_000, "CHF", "12.50 CHF"),
        (-1_250_000_000, "JPY", "-1,250.00 JPY"),
    ],
)
def test_money(micros, currency, expected):
    assert money(micros, currency) == expected


def test_money_with_code_names_the_currency_once():
    assert money(25_000_000, "USD", code=True) == "$25.00 USD"
    assert money(25_000_000, "CHF", code=True) == "25.00 CHF"


@pytest.mark.parametrize("value", [12.5, "12.50", True, None])
def test_money_takes_only_integer_micros(value):
    with pytest.raises(TypeError):
        money(value, "USD")


def test_money_filter_in_a_template():
    assert rendering.environment().from_string("{{ m | money('USD') }}").render(m=12_500_000) == "$12.50"


@pytest.mark.parametrize(
    ("value", "zone", "expected"),
    [
        ("2026-11-26T09:00:00Z", "America/New_York", "Nov 26, 2026 4:00 AM EST"),
        ("2026-07-04T16:30:00.123456Z", "America/New_York", "Jul 4, 2026 12:30 PM EDT"),
        ("2026-01-01T00:05:00+00:00", "Europe/London", "Jan 1, 2026 12:05 AM GMT"),
        ("2026-11-26T09:00:00Z", "Asia/Kolkata", "Nov 26, 2026 2:30 PM IST"),
        (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), "America/Chicago", "Mar 8, 2026 1:00 AM CST"),
        (datetime(2026, 3, 8, 8, 0, tzinfo=UTC), "America/Chicago", "Mar 8, 2026 3:00 AM CDT"),
        (datetime(2026, 3, 8, 3, 0, tzinfo=timezone(timedelta(hours=-5))), "UTC", "Mar 8, 2026 8:00 AM UTC"),
    ],
)
def test_datetime_local(value, zone, expected):
    assert datetime_local(value, zone) == expected


@pytest.mark.parametrize("value", ["2026-11-26T09:00:00", datetime(2026, 11, 26, 9, 0)])
def test_a_time_without_an_offset_is_refused(value):
    with pytest.raises(ValueError, match="offset"):
        datetime_local(value, "UTC")


def test_failure_codes_read_as_words_when_there_is_no_message():
    assert failure_text("insufficient_funds") == "The card has insufficient funds"
    assert failure_text("some_new_code") == "Some new code"
    context = declined_context(payment=payment(status="failed", failure_reason=None, failure_code="expired_card"))
    assert "The card has expired" in render("card_declined.txt", **context)
    context = receipt_context(payment=payment(status="failed", failure_code="card_declined"))
    assert "Reason: The card was declined." in render("receipt.txt", **context)


def test_card_label():
    assert card_label("visa", "4242") == "Visa ending in 4242"
    assert card_label("amex", "0005") == "American Express ending in 0005"
    assert card_label("some_new_brand", "1111") == "Some new brand ending in 1111"
    assert card_label(None, None) == "Card"


# -- environment ------------------------------------------------------------------
def test_templates_are_found_next_to_chalicelib_or_where_configured(monkeypatch, tmp_path):
    assert templates_dir() == ROOT / "templates"
    # The Lambda zip: vendor/ contents land at the zip root, beside chalicelib/.
    assert (ROOT / "vendor" / "templates").resolve() == (ROOT / "templates").resolve()
    (tmp_path / "hello.html").write_text("Hello {{ name }}")
    monkeypatch.setenv("BILLING_TEMPLATES_DIR", str(tmp_path))
    reset_environment()
    assert templates_dir() == tmp_path
    assert render("hello.html", name="<you>") == "Hello &lt;you&gt;"


def test_a_missing_templates_folder_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("BILLING_TEMPLATES_DIR", str(tmp_path / "nowhere"))
    reset_environment()
    with pytest.raises(FileNotFoundError, match="BILLING_TEMPLATES_DIR"):
        render("receipt.html", **receipt_context())


def test_the_environment_is_created_once():
    assert rendering.environment() is rendering.environment()


def test_autoescape_is_on_for_html_and_strings_and_off_for_text(monkeypatch, tmp_path):
    (tmp_path / "x.html").write_text("{{ v }}")
    (tmp_path / "x.txt").write_text("{{ v }}")
    monkeypatch.setenv("BILLING_TEMPLATES_DIR", str(tmp_path))
    reset_environment()
    assert render("x.html", v="<i>") == "&lt;i&gt;"
    assert render("x.txt", v="<i>") == "<i>"
    assert rendering.environment().from_string("{{ v }}").render(v="<i>") == "&lt;i&gt;"


def test_strict_undefined_raises():
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        rendering.environment().from_string("{{ missing }}").render()
    context = receipt_context()
    del context["account_name"]
    with pytest.raises(jinja2.UndefinedError, match="account_name"):
        render("receipt.html", **context)
    with pytest.raises(jinja2.UndefinedError):
        render("receipt.txt", **receipt_context(payment={"payment_id": "pay_1"}))


# -- templates ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "context"),
    [
        ("receipt", receipt_context(account_name=EVIL)),
        ("receipt", receipt_context(billing_account_name=EVIL)),
        ("receipt", receipt_context(payment=payment(status="failed", failure_reason=EVIL))),
        ("card_declined", declined_context(account_name=EVIL)),
        ("card_declined", declined_context(payment=payment(status="failed", failure_reason=EVIL))),
        ("low_balance", low_balance_context(account_name=EVIL)),
        ("low_balance", low_balance_context(billing_account_name=EVIL)),
    ],
)
def test_names_containing_html_are_escaped(name, context):
    html = render(f"{name}.html", **context)
    assert "<script>" not in html and "<b>Co</b>" not in html
    for marker in ESCAPED_MARKERS:
        assert marker in html
    # The plain-text part shows the name as it is.
    assert EVIL in render(f"{name}.txt", **context)


def test_receipt_shows_every_field():
    html = render("receipt.html", **receipt_context(billing_account_name="Acme Agency"))
    text = render("receipt.txt", **receipt_context(billing_account_name="Acme Agency"))
    for expected in (
        "Acme Plumbing",
        "Acme Agency (acct_acme)",
        "pay_0123456789",
        "Nov 26, 2026 4:00 AM EST",
        "Auto recharge",
        "$25.00",
        "USD",
        "Succeeded",
        "Visa ending in 4242",
        "pi_3Nabc",
        "$37.50",
    ):
        assert expected in html, expected
        assert expected in text, expected
    assert "Failure reason" not in html and "Failure reason" not in text
    assert "@media print" in html and "<main" in html and 'lang="en"' in html and 'scope="row"' in html


def test_receipt_of_a_failed_payment_says_why_and_skips_what_is_unknown():
    context = receipt_context(
        payment=payment(status="failed", kind="manual", gateway_reference=None, failure_reason="Your card has expired.")
    )
    del context["balance_after_micros"]
    for text in (render("receipt.html", **context), render("receipt.txt", **context)):
        assert "Payment failed" in text or "PAYMENT FAILED" in text
        assert "Manual payment" in text
        assert "Your card has expired." in text
        assert "Gateway reference" not in text and "Balance after" not in text


def test_receipt_takes_the_payment_record_itself():
    record = Payment(
        payment_id="pay_abc",
        billing_account_id="acct_acme",
        account_id="acct_acme",
        kind=PaymentKind.SUBSCRIPTION,
        amount_micros=49_990_000,
        currency="EUR",
        status=PaymentStatus.REFUNDED,
        card_brand="mastercard",
        card_last4="4444",
        created_at=datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
        gateway="simulated",
    )
    html = render("receipt.html", **receipt_context(payment=record, time_zone="Europe/Berlin"))
    assert "Payment refunded" in html
    assert "€49.99 EUR" in html and "Subscription" in html and "Mastercard ending in 4444" in html
    assert "Jun 1, 2026 2:00 PM CEST" in html
    assert "status-refunded" in html


def test_card_declined_explains_the_cool_down():
    text, html = render_email("card_declined", **declined_context(settings_url="https://app.example.com/billing"))
    for body in (text, html):
        assert "Visa ending in 0002" in body
        assert "Your card has insufficient funds." in body
        assert "Nov 26, 2026 10:00 AM EST" in body  # cool-down end, local
        assert "2 more declines would pause it" in body
        assert "https://app.example.com/billing" in body


def test_card_declined_after_three_says_auto_recharge_is_paused():
    context = declined_context(consecutive_declines=3, paused=True, cooldown_until=None, balance_micros=-2_000_000)
    for body in (render("card_declined.html", **context), render("card_declined.txt", **context)):
        assert "Auto-recharge is paused" in body
        assert "update your card in billing settings" in body
        assert "-$2.00 (past due)" in body


def test_card_declined_with_a_backup_card():
    declined = {"card_brand": "mastercard", "card_last4": "4444", "status": "failed", "failure_code": "expired_card"}
    text = render("card_declined.txt", **declined_context(backup_payment=declined))
    assert "Mastercard ending in 4444: declined too (The card has expired)" in text
    charged = {"card_brand": "mastercard", "card_last4": "4444", "status": "succeeded"}
    html = render("card_declined.html", **declined_context(backup_payment=charged))
    assert "Your primary card was declined" in html and "charged instead" in html


def test_low_balance():
    text, html = render_email("low_balance", **low_balance_context(auto_recharge_enabled=True))
    for body in (text, html):
        assert "$8.20" in body and "$10.00" in body
        assert "about 4.5 days" in body
        assert "Billing" in body and "Settings" in body
        assert "Auto-recharge is on" in body
    past_due = render("low_balance.txt", **low_balance_context(balance_micros=-1_000_000, runway_days=None))
    assert "PAST DUE" in past_due and "Runway" not in past_due


def test_inline_css_moves_rules_into_style_attributes_and_keeps_print_rules():
    html = inline_css(render("receipt.html", **receipt_context()))
    assert 'style="' in html
    assert "@media print" in html  # kept in a <style> block for clients that print
    plain = inline_css("<html><head><style>p { color: red }</style></head><body><p>x</p></body></html>")
    assert '<p style="color: red;">x</p>' in plain


# -- cold start -----------------------------------------------------------------------
def test_the_app_and_the_ingest_handler_do_not_load_jinja2_or_css_inline():
    code = (
        "import sys\n"
        "import app\n"
        "import chalicelib.handlers.ingest\n"
        "import chalicelib.rendering\n"
        "import chalicelib.adapters.email\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('jinja2', 'css_inline', 'markupsafe'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


# -- numbered receipts with the company block, as HTML, text and PDF -------------------------------
ISSUER = {"name": "Example Telecom Ltd", "address": ["1 Main St", "Springfield, IL 62701"], "tax_id": "EIN 12-345"}


def _numbered(number: int | None = 12) -> Payment:
    return Payment(
        payment_id="pay_abc",
        billing_account_id="acct_acme",
        account_id="acct_acme",
        kind=PaymentKind.AUTO_RECHARGE,
        amount_micros=250_000_000,
        currency="USD",
        status=PaymentStatus.SUCCEEDED,
        card_brand="visa",
        card_last4="4242",
        created_at=datetime(2026, 11, 1, 4, 1, tzinfo=UTC),
        gateway="simulated",
        gateway_reference="sim_ch_1",
        receipt_number=number,
    )


def test_a_receipt_carries_its_number_the_company_block_and_the_card():
    context = receipt_context(payment=_numbered(), issuer=ISSUER)
    for body in (render("receipt.html", **context), render("receipt.txt", **context)):
        for expected in ("No. 12", "Example Telecom Ltd", "1 Main St", "Springfield, IL 62701", "Tax ID: EIN 12-345"):
            assert expected in body, expected
        assert "Visa ending in 4242" in body
    assert "<title>Receipt No. 12 | Acme Plumbing</title>" in render("receipt.html", **context)
    # Without a company block (or a number) nothing is left empty.
    plain = render("receipt.html", **receipt_context(payment=_numbered(None)))
    assert "No." not in plain and "Tax ID" not in plain


def test_the_receipt_pdf_has_the_number_company_block_and_card_and_is_reproducible():
    import io

    import pypdf

    from chalicelib.domain.accounts import Account, AccountKind, Billing
    from chalicelib.receipt_render import pdf_filename, render_pdf
    from chalicelib.receipt_render import receipt_context as make_context

    account = Account("acct_acme", "Acme Plumbing", AccountKind.ACCOUNT, "America/New_York", "USD", None, Billing.OWN)
    context = {**make_context(_numbered(), account), "issuer": ISSUER}
    pdf = render_pdf(context)
    assert pdf == render_pdf(context)
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    for expected in (
        "Payment receipt",
        "No. 12",
        "$250.00 USD",
        "Example Telecom Ltd",
        "Springfield, IL 62701",
        "Tax ID: EIN 12-345",
        "Visa ending in 4242",
        "Acme Plumbing",
        "Nov 1, 2026 12:01 AM EDT",
        "Auto recharge",
    ):
        assert expected in text, expected
    assert pdf_filename(_numbered()) == "receipt-acct_acme-12-pay_abc.pdf"


def test_quantities_read_with_their_unit():
    from chalicelib.rendering import plural, quantity_text

    assert quantity_text(1_328_000_000, "minute") == "1,328 minutes"
    assert quantity_text(1_000_000, "number") == "1 number"
    assert quantity_text(2_500_000, "minute") == "2.5 minutes"
    assert quantity_text(0, "message") == "0 messages"
    assert quantity_text(12_000_000, None) == "12"
    assert [plural(u) for u in ("item", "query", "day", "inch", "box", "minutes")] == [
        "items",
        "queries",
        "days",
        "inches",
        "boxes",
        "minutes",
    ]
