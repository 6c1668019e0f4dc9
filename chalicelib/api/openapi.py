"""GET /openapi.json: the HTTP contract as an OpenAPI 3.1 document, generated from the app.

Paths, methods, path parameters and which routes need a token come from the
app's own route table, so a route cannot be missing from the document. What a
route reads and answers comes from OPERATIONS below: request bodies from the
pydantic models the routes validate with (AccountIn, BillingSettingsIn,
UsageEventIn), response bodies from the schemas here. A route that is not in
OPERATIONS yet is still documented, with its parameters and a generic answer.

The document is built on the first request (pydantic loads then, not at import)
and cached.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from chalice.app import Blueprint, Response

from ..domain.text import NO_CONTROL_CHARACTERS_PATTERN
from .http import CORS

openapi_bp = Blueprint(__name__)

_lock = threading.Lock()
_document: dict[str, Any] | None = None


@openapi_bp.route("/openapi.json", methods=["GET"], cors=CORS)
def openapi_document() -> Response:
    return Response(body=document(openapi_bp.current_app), headers={"Content-Type": "application/json"})


def document(app: Any) -> dict[str, Any]:
    global _document
    with _lock:
        if _document is None:
            _document = build_document(app)
        return _document


# -- schemas ----------------------------------------------------------------------------------

REF = "#/components/schemas/{model}"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


MONEY = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "examples": ["12.3456"]}
DECIMAL = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
INSTANT = {"type": "string", "format": "date-time"}
LOCAL_DATE = {"type": "string", "format": "date"}
CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$"}
CATEGORIES = ["call_minutes", "text_messages", "number_renewals", "subscription_fees", "recharge", "adjustment"]
FREQUENCIES = ["daily", "weekly", "monthly", "quarterly", "yearly"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ACCOUNT_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"}
ALERT_CATEGORIES = ["call_minutes", "text_messages", "number_renewals", "subscription_fees", "total"]


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object with these properties; more may be added later (clients must ignore them)."""
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


def page_of(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return obj({"items": {"type": "array", "items": item}, "next_cursor": nullable({"type": "string"}), **extra})


# A page of an agency's accounts: the rows are a page, the totals cover every account.
LIST_FIELDS: dict[str, Any] = {
    "sort": {"enum": ["cost", "name"]},
    "q": nullable({"type": "string"}),
    "limit": {"type": "integer", "minimum": 1, "maximum": 500},
    "matched": {"type": "integer", "minimum": 0},
    "next_cursor": nullable({"type": "string"}),
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": obj(
        {
            "error": obj(
                {"code": {"type": "string"}, "message": {"type": "string"}},
                {"details": {"type": "array", "items": {"type": "object"}}},
            )
        }
    ),
    "AutoRecharge": obj(
        {
            "enabled": {"type": "boolean"},
            "threshold": MONEY,
            "amount": MONEY,
            "in_flight": {"type": "boolean"},
            "paused": {"type": "boolean"},
        },
        {"consecutive_declines": {"type": "integer", "minimum": 0}},
    ),
    # What about a balance needs a person (past due, auto-recharge paused, a declined card), and what to do.
    "Notice": obj(
        {
            "kind": {"enum": ["past_due", "auto_recharge_paused", "card_declined"]},
            "message": {"type": "string"},
            "action": {"type": "string"},
        }
    ),
    # Recurring charges (number renewals, subscription fees) seen in the month before today, due again.
    "Upcoming": obj(
        {
            "from": LOCAL_DATE,
            "to": LOCAL_DATE,
            "total": MONEY,
            "count": {"type": "integer", "minimum": 0},
            "by_category": {
                "type": "array",
                "items": obj({"category": {"type": "string"}, "count": {"type": "integer"}, "amount": MONEY}),
            },
            "charges": {
                "type": "array",
                "items": obj(
                    {
                        "due_on": LOCAL_DATE,
                        "category": {"type": "string"},
                        "count": {"type": "integer"},
                        "amount": MONEY,
                    }
                ),
            },
            "average_daily_usage": MONEY,
        }
    ),
    # A shared-billing sub-account's own users see that the agency bills them: the agency's
    # balance and status only if it shares them (balance_visible), its runway, spend and
    # auto-recharge never (null).
    "Balance": obj(
        {
            "account_id": {"type": "string"},
            "billing": {"enum": ["own", "agency"]},
            "billing_account_id": {"type": "string"},
            "billing_account_name": nullable({"type": "string"}),
            "balance_visible": {"type": "boolean"},
            "balance": nullable(MONEY),
            "currency": CURRENCY,
            "status": nullable({"enum": ["ok", "low", "past_due"]}),
            "low_balance_threshold": nullable(MONEY),
            "average_daily_spend": nullable(MONEY),
            "runway_days": nullable(DECIMAL),
            "auto_recharge": nullable(ref("AutoRecharge")),
        },
        {
            "upcoming": nullable(ref("Upcoming")),
            "covered_until": nullable(LOCAL_DATE),
            "notices": nullable({"type": "array", "items": ref("Notice")}),
            "entries": nullable({"type": "integer", "minimum": 0}),
            "last_posted_at": nullable(INSTANT),
        },
    ),
    "Account": obj(
        {
            "account_id": {"type": "string"},
            "name": {"type": "string"},
            "kind": {"enum": ["account", "agency"]},
            "time_zone": {"type": "string"},
            "currency": CURRENCY,
            "agency_id": nullable({"type": "string"}),
            "billing": {"enum": ["own", "agency"]},
            "billing_account_id": {"type": "string"},
            "emails": {"type": "array", "items": {"type": "string"}},
            "created_at": nullable(INSTANT),
            "updated_at": nullable(INSTANT),
        }
    ),
    "AccountWithBalance": {"allOf": [ref("Account"), obj({"balance": ref("Balance")})]},
    "Rates": obj(
        {
            "account_id": {"type": "string"},
            "currency": CURRENCY,
            "rates": {
                "type": "array",
                "items": obj(
                    {
                        "category": {"type": "string"},
                        "unit": {"type": "string"},
                        "unit_price": MONEY,
                        # account override -> agency override (for its sub-accounts) -> default card
                        "source": {"enum": ["account", "agency", "default"]},
                    }
                ),
            },
            # Usage categories no card prices in this currency: their events are refused unless priced.
            "unpriced": {"type": "array", "items": {"enum": CATEGORIES[:4]}},
        }
    ),
    "RatesIn": {
        "type": "object",
        "required": ["rates"],
        "additionalProperties": False,
        "properties": {
            # The account's own currency by default; an agency may name another (its overrides
            # for its sub-accounts in that currency).
            "currency": CURRENCY,
            "rates": {
                "type": "object",
                "propertyNames": {"enum": CATEGORIES},
                "additionalProperties": {
                    "type": "object",
                    "required": ["unit_price"],
                    "properties": {"unit_price": MONEY, "unit": {"type": "string"}},
                },
            },
        },
    },
    "Card": nullable(obj({"brand": {"type": "string"}, "last4": {"type": "string"}})),
    "BillingSettings": {
        "oneOf": [
            obj(
                {
                    "account_id": {"type": "string"},
                    "billing": {"const": "own"},
                    "billing_account_id": {"type": "string"},
                    "currency": CURRENCY,
                    "auto_recharge_enabled": {"type": "boolean"},
                    "threshold": MONEY,
                    "amount": MONEY,
                    "primary_card": ref("Card"),
                    "backup_card": ref("Card"),
                    "low_balance_alert": nullable(MONEY),
                    "alert_recipients": {"type": "array", "items": {"type": "string"}},
                    "share_balance_with_sub_accounts": {"type": "boolean"},
                    "webhook_url": nullable({"type": "string"}),
                    "recharge": obj(
                        {
                            "in_flight": {"type": "boolean"},
                            "consecutive_declines": {"type": "integer"},
                            "retry_after": nullable(INSTANT),
                            "paused": {"type": "boolean"},
                        }
                    ),
                }
            ),
            obj(
                {
                    "account_id": {"type": "string"},
                    "billing": {"const": "agency"},
                    "billing_account_id": {"type": "string"},
                    "paid_by": {"type": "string"},
                }
            ),
        ]
    },
    "LogEntry": obj(
        {
            "id": {"type": "string"},
            "account_id": {"type": "string"},
            "billing_account_id": {"type": "string"},
            "category": {"type": "string"},
            "description": {"type": "string"},
            "quantity": DECIMAL,
            "unit": {"type": "string"},
            "unit_price": nullable(MONEY),
            "amount": MONEY,
            # The billing account's balance after this entry (billing_account_name says whose);
            # null when the caller may not see that balance (a shared sub-account's users, unless
            # the agency shares it).
            "balance_after": nullable(MONEY),
            "currency": CURRENCY,
            "occurred_at": INSTANT,
            "posted_at": INSTANT,
            # Both instants in the Logs' time zone, with its offset: "2026-01-15T09:03:00-05:00".
            "time_zone": {"type": "string"},
            "occurred_at_local": {"type": "string", "format": "date-time"},
            "posted_at_local": {"type": "string", "format": "date-time"},
            "event_id": {"type": "string"},
            # The details the producer sent (call id, tracking number, caller, duration ...).
            "metadata": {
                "type": "object",
                "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}]},
            },
        },
        {"account_name": nullable({"type": "string"}), "billing_account_name": nullable({"type": "string"})},
    ),
    "LogPage": page_of(ref("LogEntry"), time_zone={"type": "string"}),
    "Payment": obj(
        {
            "id": {"type": "string"},
            "created_at": INSTANT,
            "kind": {"enum": ["auto_recharge", "manual", "subscription"]},
            "amount": MONEY,
            "currency": CURRENCY,
            "status": {"enum": ["pending", "succeeded", "failed", "refunded"]},
            "card_brand": {"type": "string"},
            "card_last4": {"type": "string"},
            "failure_code": nullable({"type": "string"}),
            "failure_reason": nullable({"type": "string"}),
            "gateway_reference": nullable({"type": "string"}),
            "billing_account_id": {"type": "string"},
            "description": {"type": "string"},
            "receipt_number": nullable({"type": "integer", "minimum": 1}),
            "receipt": nullable({"type": "string"}),
        }
    ),
    "PaymentPage": page_of(
        ref("Payment"),
        account_id={"type": "string"},
        billing={"enum": ["own", "agency"]},
        billing_account_id={"type": "string"},
        time_zone={"type": "string"},
    ),
    "AddFundsIn": {
        "type": "object",
        "required": ["amount"],
        "additionalProperties": False,
        "properties": {"amount": MONEY, "card": {"enum": ["primary", "backup"]}},
    },
    "UsageRow": obj(
        {
            "category": {"type": "string"},
            "count": {"type": "integer"},
            "quantity": DECIMAL,
            "unit": {"type": "string"},
            "amount": MONEY,
        },
        {"period": {"type": "string"}, "period_start": LOCAL_DATE, "period_end": LOCAL_DATE},
    ),
    "AccountUsage": obj(
        {
            "from": LOCAL_DATE,
            "to": LOCAL_DATE,
            "group_by": {"enum": ["day", "week", "month", "total"]},
            "currency": CURRENCY,
            "time_zone": {"type": "string"},
            "account_id": {"type": "string"},
            "start": INSTANT,
            "end": INSTANT,
            "rows": {"type": "array", "items": ref("UsageRow")},
            "totals": {"type": "array", "items": ref("UsageRow")},
        }
    ),
    "AgencyUsage": obj(
        {
            "from": LOCAL_DATE,
            "to": LOCAL_DATE,
            "group_by": {"enum": ["day", "week", "month", "total"]},
            "currency": CURRENCY,
            "time_zone": {"type": "string"},
            "agency_id": {"type": "string"},
            "accounts": {
                "type": "array",
                "items": obj(
                    {
                        "account_id": {"type": "string"},
                        "billing": {"enum": ["own", "agency"]},
                        "currency": CURRENCY,
                        "rows": {"type": "array", "items": ref("UsageRow")},
                        "totals": {"type": "array", "items": ref("UsageRow")},
                    }
                ),
            },
            **LIST_FIELDS,
            "totals": ref("UsageTotals"),
            "totals_by_currency": {"type": "array", "items": ref("UsageTotals")},
        }
    ),
    "UsageTotals": obj(
        {
            "currency": CURRENCY,
            "accounts": {"type": "integer", "minimum": 0},
            "rows": {"type": "array", "items": ref("UsageRow")},
            "by_category": {"type": "array", "items": ref("UsageRow")},
            "total_amount": MONEY,
        }
    ),
    "DashboardTotals": obj(
        {
            "currency": CURRENCY,
            "accounts": {"type": "integer", "minimum": 0},
            "cost": MONEY,
            "previous_cost": MONEY,
            "change_percent": nullable(DECIMAL),
        }
    ),
    "Dashboard": obj(
        {
            "agency_id": {"type": "string"},
            "from": LOCAL_DATE,
            "to": LOCAL_DATE,
            "previous_from": LOCAL_DATE,
            "previous_to": LOCAL_DATE,
            "compared_with": {"type": "string", "examples": ["previous month", "previous 17 days"]},
            "time_zone": {"type": "string"},
            "currency": CURRENCY,
            "accounts": {
                "type": "array",
                "items": obj(
                    {
                        "account_id": {"type": "string"},
                        "billing": {"enum": ["own", "agency"]},
                        "currency": CURRENCY,
                        "cost": MONEY,
                        "balance": MONEY,
                        "status": {"enum": ["ok", "low", "past_due"]},
                    }
                ),
            },
            **LIST_FIELDS,
            "totals": ref("DashboardTotals"),
            "totals_by_currency": {"type": "array", "items": ref("DashboardTotals")},
        }
    ),
    "AgencyAccounts": obj(
        {
            "agency_id": {"type": "string"},
            "items": {
                "type": "array",
                "items": obj(
                    {
                        "account_id": {"type": "string"},
                        "name": {"type": "string"},
                        "kind": {"enum": ["account", "agency"]},
                        "billing": {"enum": ["own", "agency"]},
                        "currency": CURRENCY,
                        "time_zone": {"type": "string"},
                    }
                ),
            },
            **LIST_FIELDS,
            "total": {"type": "integer", "minimum": 0},
        }
    ),
    "UsageAlert": obj(
        {
            "id": {"type": "string"},
            "owner_id": {"type": "string"},
            "scope": {"enum": ["account", "agency"]},
            "each_account": {"type": "boolean"},
            "name": {"type": "string"},
            "category": {"enum": ALERT_CATEGORIES},
            "measure": {"enum": ["count", "quantity", "cost"]},
            "period": {"enum": ["day", "week", "month", "year"]},
            "threshold": DECIMAL,
            "currency": nullable(CURRENCY),
            "time_zone": {"type": "string"},
            "recipients": {"type": "array", "items": {"type": "string"}},
            "webhook_url": nullable({"type": "string"}),
            "enabled": {"type": "boolean"},
            "revision": {"type": "integer", "minimum": 1},
            "created_at": INSTANT,
            "updated_at": INSTANT,
        },
        {"webhook_secret": {"type": "string", "description": "signs the webhooks; answered once, when a URL is set"}},
    ),
    "UsageAlertPage": page_of(ref("UsageAlert"), owner_id={"type": "string"}),
    "UsageAlertFiring": obj(
        {
            "id": {"type": "string", "description": "the webhook event's id: the same on every attempt"},
            "alert_id": {"type": "string"},
            "revision": nullable({"type": "integer"}),
            "account_id": {"type": "string"},
            "period": {"enum": ["day", "week", "month", "year"]},
            "period_start": LOCAL_DATE,
            "period_end": LOCAL_DATE,
            "threshold": DECIMAL,
            "value": DECIMAL,
            "currency": nullable(CURRENCY),
            "fired_at": INSTANT,
            "email": obj(
                {
                    "status": {"enum": ["pending", "sending", "sent", "failed", "none"]},
                    "recipients": {"type": "array", "items": {"type": "string"}},
                    "at": nullable(INSTANT),
                    "error": nullable({"type": "string"}),
                }
            ),
            "webhook": obj(
                {
                    "status": {"enum": ["none", "pending", "retrying", "delivered", "dead_lettered"]},
                    "url": nullable({"type": "string"}),
                    "attempts": {
                        "type": "array",
                        "items": obj(
                            {
                                "at": INSTANT,
                                "status": nullable({"type": "integer"}),
                                "error": nullable({"type": "string"}),
                                "ms": {"type": "integer", "minimum": 0},
                            }
                        ),
                    },
                    "next_attempt_at": nullable(INSTANT),
                }
            ),
        }
    ),
    "UsageAlertFiringPage": page_of(ref("UsageAlertFiring"), alert_id={"type": "string"}),
    "AgencyAttention": obj(
        {
            "agency_id": {"type": "string"},
            "items": {
                "type": "array",
                "items": obj(
                    {
                        "account_id": {"type": "string"},
                        "account_name": {"type": "string"},
                        "kind": {"enum": ["account", "agency"]},
                        "billing": {"enum": ["own", "agency"]},
                        "balance": MONEY,
                        "currency": CURRENCY,
                        "notices": {"type": "array", "items": ref("Notice")},
                    }
                ),
            },
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "accounts_checked": {"type": "integer", "minimum": 0},
        }
    ),
    "UsageEventsIn": {
        "type": "object",
        "required": ["events"],
        "additionalProperties": False,
        "properties": {"events": {"type": "array", "minItems": 1, "maxItems": 1000, "items": ref("UsageEventIn")}},
    },
    "Accepted": obj(
        {
            "accepted": {"type": "integer", "minimum": 0},
            "duplicates": {"type": "integer", "minimum": 0},
            "conflicts": {
                "type": "array",
                "items": obj({"event_id": {"type": "string"}, "reason": {"type": "string"}}),
            },
        }
    ),
    "StatementSchedule": obj(
        {
            "account_id": {"type": "string"},
            "configured": {"type": "boolean"},
            "enabled": {"type": "boolean"},
            "frequency": nullable({"enum": FREQUENCIES}),
            "weekday": nullable({"enum": WEEKDAYS}),
            "day_of_month": nullable({"anyOf": [{"type": "integer", "minimum": 1, "maximum": 28}, {"const": "last"}]}),
            "hour": nullable({"type": "integer", "minimum": 0, "maximum": 23}),
            "recipients": {"type": "array", "items": {"type": "string"}},
            "time_zone": {"type": "string"},
            "next_run_at": nullable(INSTANT),
            "next_period": nullable(obj({"from": LOCAL_DATE, "to": LOCAL_DATE})),
            "last_run_at": nullable(INSTANT),
            "updated_at": nullable(INSTANT),
        }
    ),
    "StatementScheduleIn": {
        "type": "object",
        "required": ["frequency", "recipients"],
        "additionalProperties": False,
        "properties": {
            "frequency": {"enum": FREQUENCIES},
            "weekday": {"enum": WEEKDAYS, "description": "weekly only"},
            "day_of_month": {
                "anyOf": [{"type": "integer", "minimum": 1, "maximum": 28}, {"const": "last"}],
                "description": "monthly only: the day it runs on (default 1: the previous calendar month)",
            },
            "hour": {"type": "integer", "minimum": 0, "maximum": 23, "description": "local hour (default 6)"},
            "recipients": {"type": "array", "minItems": 1, "maxItems": 10, "items": {"type": "string"}},
            "enabled": {"type": "boolean"},
        },
    },
}


# -- operations ---------------------------------------------------------------------------------


def q(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


LIMIT = q("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "page size")
CURSOR = q("cursor", {"type": "string", "maxLength": 2048}, "next_cursor of the previous page")
FROM = q("from", LOCAL_DATE, "first local date of the account (inclusive)")
TO = q("to", LOCAL_DATE, "last local date of the account (inclusive)")
CATEGORY = q("category", {"enum": CATEGORIES})
FORMAT = q("format", {"enum": ["json", "csv"], "default": "json"})
GROUP_BY = q("group_by", {"enum": ["day", "week", "month", "total"]})
SORT = q("sort", {"enum": ["cost", "name"]}, "order of the accounts (dashboard: cost, usage: name)")
SEARCH = q("q", {"type": "string", "maxLength": 100}, "only accounts whose name or id contains this (any case)")
LOG_SEARCH = q(
    "q",
    {"type": "string", "maxLength": 100, "pattern": NO_CONTROL_CHARACTERS_PATTERN},
    "only rows whose description or a metadata value contains this (any case). A filtered page examines at "
    "most 5,000 rows of the log: a rare match may answer fewer rows than limit, even none, with a next_cursor "
    "that searches on",
)
RATES_CURRENCY = q("currency", CURRENCY, "an agency's card for its sub-accounts in this currency (default: its own)")
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
    "description": "the same key answers the same request again, never charging twice",
}

JSON = "application/json"
CSV = "text/csv"
HTML = "text/html"
PDF = "application/pdf"


@dataclass(frozen=True)
class Operation:
    summary: str
    ok: int = 200
    ok_schema: dict[str, Any] | None = None
    ok_types: tuple[str, ...] = (JSON,)
    also_ok: dict[int, dict[str, Any]] = field(default_factory=dict)  # other success answers
    query: tuple[dict[str, Any], ...] = ()
    headers: tuple[dict[str, Any], ...] = ()
    body: dict[str, Any] | None = None
    errors: tuple[int, ...] = ()  # besides the ones every route may answer
    tags: tuple[str, ...] = ()


def _alert_operations(kind: str, whose: str) -> dict[str, Operation]:
    """The usage-alert routes of an account (`kind` "account") or an agency ("agency")."""
    name = "" if kind == "account" else "agency_"
    return {
        f"create_{name}usage_alert": Operation(
            f"Create a usage alert on {whose}; a webhook's secret is answered this once",
            ok=201,
            ok_schema=ref("UsageAlert"),
            body=ref("UsageAlertIn"),
            errors=(409,),
            tags=("alerts",),
        ),
        f"list_{name}usage_alerts": Operation(
            f"Usage alerts on {whose}", ok_schema=ref("UsageAlertPage"), query=(LIMIT, CURSOR), tags=("alerts",)
        ),
        f"get_{name}usage_alert": Operation("A usage alert", ok_schema=ref("UsageAlert"), tags=("alerts",)),
        f"update_{name}usage_alert": Operation(
            "Change the fields given (what it watches changed: a new revision, which fires anew)",
            ok_schema=ref("UsageAlert"),
            body=ref("UsageAlertChange"),
            errors=(409,),
            tags=("alerts",),
        ),
        f"delete_{name}usage_alert": Operation(
            "Delete a usage alert", ok=204, ok_types=(), errors=(409,), tags=("alerts",)
        ),
        f"list_{name}usage_alert_firings": Operation(
            "When the alert fired (once per account and period), the value, and how each delivery went",
            ok_schema=ref("UsageAlertFiringPage"),
            query=(LIMIT, CURSOR),
            tags=("alerts",),
        ),
    }


OPERATIONS: dict[str, Operation] = {
    "put_account": Operation(
        "Create (201) or update (200) an account (service token)",
        ok_schema=ref("Account"),
        also_ok={201: ref("Account")},
        body=ref("AccountIn"),
        errors=(409, 422),
        tags=("accounts",),
    ),
    "get_account": Operation("The account, with its balance", ok_schema=ref("AccountWithBalance"), tags=("accounts",)),
    "get_balance": Operation("Balance, status and auto-recharge state", ok_schema=ref("Balance"), tags=("accounts",)),
    "get_rates": Operation(
        "The account's effective rate card in its currency, and where each rate comes from",
        ok_schema=ref("Rates"),
        query=(RATES_CURRENCY,),
        tags=("accounts",),
    ),
    "put_rates": Operation(
        "Replace the account's rate overrides in one currency (an agency's also price its sub-accounts)",
        ok_schema=ref("Rates"),
        body=ref("RatesIn"),
        tags=("accounts",),
    ),
    "account_logs": Operation(
        "Ledger entries of the account, newest first (or CSV)",
        ok_schema=ref("LogPage"),
        ok_types=(JSON, CSV),
        query=(LIMIT, CURSOR, FROM, TO, CATEGORY, LOG_SEARCH, FORMAT),
        tags=("logs",),
    ),
    "agency_logs": Operation(
        "Ledger entries of the agency and every sub-account (or CSV)",
        ok_schema=ref("LogPage"),
        ok_types=(JSON, CSV),
        query=(LIMIT, CURSOR, FROM, TO, CATEGORY, LOG_SEARCH, FORMAT),
        tags=("logs",),
    ),
    "account_usage": Operation(
        "Usage by category (or CSV)",
        ok_schema=ref("AccountUsage"),
        ok_types=(JSON, CSV),
        query=(FROM, TO, GROUP_BY, CATEGORY, FORMAT),
        tags=("reports",),
    ),
    "agency_usage": Operation(
        "Usage of the agency's accounts, a page of them, plus totals over all, per currency (CSV: every account)",
        ok_schema=ref("AgencyUsage"),
        ok_types=(JSON, CSV),
        query=(FROM, TO, GROUP_BY, CATEGORY, FORMAT, LIMIT, CURSOR, SORT, SEARCH),
        tags=("reports",),
    ),
    "agency_dashboard": Operation(
        "Per account usage, cost, balance and status (a page), and totals over all, per currency",
        ok_schema=ref("Dashboard"),
        query=(FROM, TO, LIMIT, CURSOR, SORT, SEARCH),
        tags=("reports",),
    ),
    "agency_accounts": Operation(
        "The agency and its sub-accounts by name, a page at a time; q finds one (the account switcher)",
        ok_schema=ref("AgencyAccounts"),
        query=(LIMIT, CURSOR, SEARCH),
        tags=("reports",),
    ),
    "get_billing_settings": Operation(
        "Auto-recharge settings and cards (brand and last 4)", ok_schema=ref("BillingSettings"), tags=("payments",)
    ),
    "put_billing_settings": Operation(
        "Change auto-recharge settings and cards (admin)",
        ok_schema=ref("BillingSettings"),
        body=ref("BillingSettingsIn"),
        errors=(422,),
        tags=("payments",),
    ),
    "list_payments": Operation(
        "Payment History, newest first",
        ok_schema=ref("PaymentPage"),
        query=(LIMIT, CURSOR, FROM, TO),
        tags=("payments",),
    ),
    "add_funds": Operation(
        "Charge the card now and credit the balance (admin; per-account limit: 429 with Retry-After)",
        ok=201,
        ok_schema=ref("Payment"),
        headers=(IDEMPOTENCY_KEY,),
        body=ref("AddFundsIn"),
        errors=(409, 422, 429, 503),
        tags=("payments",),
    ),
    "payment_receipt": Operation(
        "A succeeded payment's numbered receipt: HTML, or PDF when Accept asks for application/pdf first "
        "(a failed payment has none: 404)",
        ok_types=(HTML, PDF),
        tags=("payments",),
    ),
    "payment_receipt_pdf": Operation(
        "The receipt as a PDF (send Accept: application/pdf, as API Gateway requires for a binary answer)",
        ok_types=(PDF,),
        tags=("payments",),
    ),
    "get_statement_schedule": Operation(
        "The recurring statement: frequency, day, hour, recipients and the next run",
        ok_schema=ref("StatementSchedule"),
        tags=("statements",),
    ),
    "put_statement_schedule": Operation(
        "Set the recurring statement (admin; not for a shared-billing sub-account: 422)",
        ok_schema=ref("StatementSchedule"),
        body=ref("StatementScheduleIn"),
        errors=(422,),
        tags=("statements",),
    ),
    "post_usage_events": Operation(
        "Usage events for the usage queue (service token)",
        ok=202,
        ok_schema=ref("Accepted"),
        body=ref("UsageEventsIn"),
        errors=(503,),
        tags=("usage",),
    ),
    "openapi_document": Operation("This document", ok_schema={"type": "object"}, tags=("meta",)),
    **_alert_operations("account", "an account's own usage (admin of the account or of its agency)"),
    **_alert_operations("agency", "the agency's total, or each sub-account (each_account; the agency's admins)"),
    "agency_attention": Operation(
        "The agency's accounts whose balance needs a person: past due, auto-recharge paused, a declined card",
        ok_schema=ref("AgencyAttention"),
        tags=("alerts",),
    ),
}

# Every route may answer these (a bad parameter, no or a bad token, no such account,
# an unsupported Content-Type, a dependency that is down or throttled).
COMMON_ERRORS = (400, 401, 403, 404, 415, 503)
ERROR_TEXT = {
    400: "bad request",
    401: "no valid bearer token",
    403: "the token's role may not do this",
    404: "not found, or out of the token's reach",
    409: "conflict",
    415: "unsupported media type",
    422: "the request is understood but cannot be done",
    429: "too many requests for this account; retry after Retry-After seconds",
    503: "a dependency is unavailable or throttled; retry after Retry-After seconds (with the same Idempotency-Key)",
}


def _pydantic_schemas() -> dict[str, Any]:
    from ..domain.account_schema import AccountIn
    from ..domain.alert_schema import UsageAlertChange, UsageAlertIn
    from ..domain.event_schema import UsageEventIn
    from ..domain.settings_schema import BillingSettingsIn

    schemas: dict[str, Any] = {}
    for model in (AccountIn, BillingSettingsIn, UsageEventIn, UsageAlertIn, UsageAlertChange):
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _content(types: tuple[str, ...], schema: dict[str, Any] | None) -> dict[str, Any]:
    return {t: ({"schema": schema} if schema is not None and t == JSON else {}) for t in types}


def _operation(path: str, method: str, route: Any) -> dict[str, Any]:
    spec = OPERATIONS.get(route.view_name)
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(ACCOUNT_ID) if name in ("account_id", "agency_id") else {"type": "string", "minLength": 1},
        }
        for name in route.view_args
    ]
    operation: dict[str, Any] = {"operationId": route.view_name}
    if route.authorizer is not None:
        operation["security"] = [{"bearer": []}]
    else:
        operation["security"] = []
    if spec is None:
        # Documented by shape only until it is added to OPERATIONS.
        operation["summary"] = route.view_name.replace("_", " ")
        operation["parameters"] = parameters
        if method in ("POST", "PUT", "PATCH"):
            operation["requestBody"] = {"required": False, "content": {JSON: {"schema": {"type": "object"}}}}
        operation["responses"] = {
            "default": {
                "description": "any answer; see the contract",
                "content": {
                    JSON: {},
                    HTML: {},
                    CSV: {},
                    "application/pdf": {},
                },
            }
        }
        return operation
    operation["summary"] = spec.summary
    if spec.tags:
        operation["tags"] = list(spec.tags)
    operation["parameters"] = parameters + list(spec.headers) + list(spec.query)
    if spec.body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": spec.body}}}
    responses: dict[str, Any] = {
        str(spec.ok): {"description": "OK", "content": _content(spec.ok_types, spec.ok_schema)}
        if spec.ok_types
        else {"description": "No content"},
    }
    for status, schema in spec.also_ok.items():
        responses[str(status)] = {"description": "OK", "content": _content((JSON,), schema)}
    error_statuses = COMMON_ERRORS if route.authorizer is not None else (400, 415)
    for status in sorted(set(error_statuses) | set(spec.errors)):
        response: dict[str, Any] = {
            "description": ERROR_TEXT.get(status, "error"),
            "content": {JSON: {"schema": ref("Error")}},
        }
        if status in (429, 503):
            response["headers"] = {
                "Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}},
            }
        responses[str(status)] = response
    operation["responses"] = responses
    return operation


def build_document(app: Any) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path in sorted(app.routes):
        for method, route in sorted(app.routes[path].items()):
            paths.setdefault(path, {})[method.lower()] = _operation(path, method, route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Charges & Usage",
            "version": "1",
            "description": (
                "The billing back end behind the Charges and Usage pages. Money is decimal strings "
                'with a currency; errors are {"error": {"code", "message"}}; lists page with '
                "limit and an opaque cursor; from/to are local dates of the account, to inclusive."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {**SCHEMAS, **_pydantic_schemas()},
        },
    }
