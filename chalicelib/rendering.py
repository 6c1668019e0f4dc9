"""HTML and plain-text rendering from the top-level `templates/` folder (Jinja2).

The Jinja2 environment is created on first use and cached: jinja2 and css_inline
are imported inside functions only, so cold starts that never render (the usage
ingest Lambda) never load them.

Where the templates are: this module's parent's parent is the repository root
locally and the zip root in Lambda. Chalice packages `vendor/` contents at the zip
root, and `vendor/templates` is a symlink to `../templates` (Chalice follows it),
so both cases resolve to `<root>/templates`. BILLING_TEMPLATES_DIR overrides it.

Autoescape is on for .html/.xml templates and for templates from strings; .txt
templates are plain text. Undefined names raise (StrictUndefined): a template
that asks for a value the caller forgot fails loudly instead of printing blanks.
Optional values are read in templates as `x | default(none)`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .domain.money import MICROS_PER_UNIT, format_cents, format_quantity_micros

if TYPE_CHECKING:
    import jinja2

TEMPLATES_DIR_ENV = "BILLING_TEMPLATES_DIR"

# Currencies shown with a prefix symbol; every other currency reads "12.50 XYZ".
# CA$ and A$ (as CLDR's English locale writes them) keep CAD and AUD apart from USD.
CURRENCY_SYMBOLS: Mapping[str, str] = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}

PAYMENT_KIND_LABELS: Mapping[str, str] = {
    "auto_recharge": "Auto recharge",
    "manual": "Manual payment",
    "subscription": "Subscription",
}

CARD_BRAND_LABELS: Mapping[str, str] = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}

# Stripe's decline codes, for a payment that has a code and no message.
FAILURE_CODE_TEXT: Mapping[str, str] = {
    "card_declined": "The card was declined",
    "generic_decline": "The card was declined",
    "do_not_honor": "The card issuer declined the charge",
    "insufficient_funds": "The card has insufficient funds",
    "expired_card": "The card has expired",
    "incorrect_cvc": "The security code is incorrect",
    "incorrect_number": "The card number is incorrect",
    "lost_card": "The card was reported lost",
    "stolen_card": "The card was reported stolen",
    "processing_error": "The card could not be processed",
    "authentication_required": "The card issuer asks for authentication",
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_lock = threading.Lock()


def templates_dir() -> Path:
    configured = os.environ.get(TEMPLATES_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "templates"


# -- filters ----------------------------------------------------------------------
def money(micros: int, currency: str, code: bool = False) -> str:
    """Micro-units to the cent (half-up): "$1,234.50", "-$3.00", "12.50 CHF".

    code=True appends the currency code after a symbol ("$25.00 USD") so a
    receipt says which dollars; amounts without a symbol already carry it.
    """
    if isinstance(micros, bool) or not isinstance(micros, int):
        raise TypeError(f"money() takes integer micro-units, got {type(micros).__name__}")
    if not isinstance(currency, str) or not currency:
        raise TypeError("money() needs a currency code")
    currency = currency.upper()
    text = format_cents(micros)
    sign = "-" if text.startswith("-") else ""
    whole, _, cents = text.lstrip("-").partition(".")
    amount = f"{int(whole):,}.{cents}"
    if sign and set(whole + cents) == {"0"}:
        sign = ""  # -0.004 rounds to 0.00: no "negative zero"
    symbol = CURRENCY_SYMBOLS.get(currency)
    if symbol is None:
        return f"{sign}{amount} {currency}"
    return f"{sign}{symbol}{amount}" + (f" {currency}" if code else "")


def _instant(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        instant = value
    elif isinstance(value, str):
        instant = datetime.fromisoformat(value.strip())
    else:
        raise TypeError(f"expected an RFC 3339 UTC time or a datetime, got {type(value).__name__}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"time without a UTC offset is ambiguous: {value!r}")
    return instant.astimezone(UTC)


def datetime_local(value: datetime | str, zone: str) -> str:
    """An instant shown in a time zone: "Nov 26, 2026 4:00 AM EST"."""
    local = _instant(value).astimezone(ZoneInfo(zone))
    hour = local.hour % 12 or 12
    meridiem = "AM" if local.hour < 12 else "PM"
    return f"{_MONTHS[local.month - 1]} {local.day}, {local.year} {hour}:{local.minute:02d} {meridiem} {local.tzname()}"


def date_local(value: datetime | str, zone: str) -> str:
    """The local date of an instant: "Nov 26, 2026"."""
    local = _instant(value).astimezone(ZoneInfo(zone))
    return f"{_MONTHS[local.month - 1]} {local.day}, {local.year}"


def humanize(value: object) -> str:
    """ "auto_recharge" -> "Auto recharge"."""
    text = str(value).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def payment_kind(value: object) -> str:
    return PAYMENT_KIND_LABELS.get(str(value), humanize(value))


def failure_text(code: object) -> str:
    """A decline code in words: "expired_card" -> "The card has expired"."""
    return FAILURE_CODE_TEXT.get(str(code), humanize(code))


def card_label(brand: object, last4: object) -> str:
    """ "Visa ending in 4242"; an unknown card reads "Card"."""
    name = CARD_BRAND_LABELS.get(str(brand).lower(), humanize(brand)) if brand else "Card"
    return f"{name} ending in {last4}" if last4 else name


def plural(unit: str) -> str:
    """ "minute" -> "minutes", "query" -> "queries", "inch" -> "inches"; a plural stays as it is."""
    if not unit or unit.endswith("s"):
        return unit
    if unit.endswith(("x", "ch", "sh", "z")):
        return unit + "es"
    if unit.endswith("y") and len(unit) > 1 and unit[-2] not in "aeiou":
        return unit[:-1] + "ies"
    return unit + "s"


def quantity_text(quantity_micros: int, unit: str | None) -> str:
    """A quantity with its unit, as people write it: "1,328 minutes", "1 number", "2.5 minutes"."""
    text = format_quantity_micros(quantity_micros)
    sign = "-" if text.startswith("-") else ""
    whole, dot, fraction = text.lstrip("-").partition(".")
    grouped = f"{sign}{int(whole):,}{dot}{fraction}"
    if not unit:
        return grouped
    return f"{grouped} {unit if abs(quantity_micros) == MICROS_PER_UNIT else plural(unit)}"


def company_block() -> dict[str, Any]:
    """The platform's company as receipts and statements print it (configuration: BILLING_COMPANY_*)."""
    from .config import get_settings

    settings = get_settings()
    return {
        "name": settings.company_name,
        "address": list(settings.company_address),
        "tax_id": settings.company_tax_id or None,
    }


# -- environment ------------------------------------------------------------------
@cache
def environment() -> jinja2.Environment:
    with _lock:
        import jinja2  # deferred: only code paths that render pay for it

        folder = templates_dir()
        if not folder.is_dir():
            raise FileNotFoundError(f"templates folder not found: {folder} (set {TEMPLATES_DIR_ENV})")
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True, default=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        env.filters.update(
            money=money,
            plural=plural,
            datetime_local=datetime_local,
            date_local=date_local,
            humanize=humanize,
            payment_kind=payment_kind,
            failure_text=failure_text,
        )
        env.globals.update(card_label=card_label)
        return env


def reset_environment() -> None:
    """Forget the cached environment (tests that point BILLING_TEMPLATES_DIR elsewhere)."""
    environment.cache_clear()


def render(template_name: str, **context: Any) -> str:
    """Render a template by its file name ("receipt.html", "receipt.txt")."""
    return environment().get_template(template_name).render(**context)


@cache
def _inliner() -> Any:
    import css_inline  # deferred, like jinja2

    # Keep @media print / @page in a <style> block; never fetch remote stylesheets.
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def inline_css(html: str) -> str:
    """Move <style> rules into style attributes, as email clients need."""
    return str(_inliner().inline(html))


def render_email(name: str, **context: Any) -> tuple[str, str]:
    """(text, html) of an email: `<name>.txt`, and `<name>.html` with CSS inlined."""
    return render(f"{name}.txt", **context), inline_css(render(f"{name}.html", **context))
