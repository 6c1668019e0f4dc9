"""Table `webhook_endpoints`: the one URL an account (or agency) has for all its billing events.

Set in its billing settings (`webhook_url`); `secret` signs every delivery and is
shown once, when the URL is set.
"""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class WebhookEndpointRecord(Model):
    TABLE_BASE = "webhook_endpoints"

    class Meta:
        table_name = "unbound-webhook_endpoints"
        billing_mode = "PAY_PER_REQUEST"

    account_id = UnicodeAttribute(hash_key=True)
    url = UnicodeAttribute()
    secret = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute()
