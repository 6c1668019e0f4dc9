"""Table `usage_alerts`: the usage alerts an account or an agency defined.

Key: (`owner_id`, `alert_id`): an account's alerts, or an agency's (its own usage's
and the agency-wide ones) are one query. What the ledger writer needs to decide a
firing (scope, category, measure, period, threshold, revision) is also kept,
compactly, on the owner's account item (`accounts.alert_watch`, written in the same
transaction), so the writer learns of alerts from the accounts it reads anyway.

- `threshold`: entries, or micro-units of money or quantity (domain/alerts.py).
- `revision`: goes up whenever what the alert watches changes; firings are per
  revision, so a changed alert starts afresh.
- `webhook_secret`: signs its webhooks; shown once, when the URL is set.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model


class UsageAlertRecord(Model):
    TABLE_BASE = "usage_alerts"

    class Meta:
        table_name = "unbound-usage_alerts"
        billing_mode = "PAY_PER_REQUEST"

    owner_id = UnicodeAttribute(hash_key=True)
    alert_id = UnicodeAttribute(range_key=True)
    scope = UnicodeAttribute()  # account | agency | each_account
    name = UnicodeAttribute()
    category = UnicodeAttribute()  # a usage category, or "total"
    measure = UnicodeAttribute()
    period = UnicodeAttribute()
    threshold = NumberAttribute()
    recipients = ListAttribute(of=UnicodeAttribute, default=list)
    webhook_url = UnicodeAttribute(null=True)
    webhook_secret = UnicodeAttribute(null=True)
    enabled = BooleanAttribute(default=True)
    revision = NumberAttribute(default=1)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute(null=True)
