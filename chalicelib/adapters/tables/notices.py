"""Table `notices`: what was fired or happened, and how each delivery of it went.

One item per usage-alert firing and per billing event sent to a webhook:

- a firing: `owner` = "alert#<alert id>", `notice_id` = "r<revision>#<period start>#<subject>"
  (an alert's firings, newest revision and period first, are one query: GET .../firings);
  written in the ledger transaction that reached the threshold, on the condition that it
  is not there yet;
- a billing event: `owner` = "hook#<account id>" (the webhook's owner), `notice_id` = the event id;
- an alert's first look at its period: `owner` = "arm#<alert id>", `notice_id` = "r<revision>".

Deliveries: `email_status` (pending | sending | sent | failed | none) with a lease
while sending; `webhook_status` (none | pending | retrying | delivered | dead_lettered)
with every attempt in `webhook_attempts` (JSON: time, HTTP status or error, duration;
the response body is never kept) and `next_attempt_at`.

`pending` is set until the delivery worker has received the item's message (then SQS
owns the retries): the sparse `by_pending` index lets a schedule queue again any whose
message was lost between the write and the queue.
"""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model


class ByPendingIndex(GlobalSecondaryIndex["NoticeRecord"]):
    class Meta:
        index_name = "by_pending"
        projection = KeysOnlyProjection()

    pending = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class NoticeRecord(Model):
    TABLE_BASE = "notices"

    class Meta:
        table_name = "unbound-notices"
        billing_mode = "PAY_PER_REQUEST"

    owner = UnicodeAttribute(hash_key=True)
    notice_id = UnicodeAttribute(range_key=True)
    event_id = UnicodeAttribute()  # the webhook's `id`: the same on every attempt
    event_type = UnicodeAttribute()
    account_id = UnicodeAttribute()  # whose event: the webhook's `account_id`
    created_at = UnicodeAttribute()  # RFC 3339
    data = UnicodeAttribute()  # the webhook's `data`, JSON

    # A firing's alert, period and figures.
    alert_id = UnicodeAttribute(null=True)
    revision = NumberAttribute(null=True)
    period = UnicodeAttribute(null=True)
    period_start = UnicodeAttribute(null=True)
    period_end = UnicodeAttribute(null=True)
    value = NumberAttribute(null=True)
    threshold = NumberAttribute(null=True)

    email_status = UnicodeAttribute(default="none")
    email_recipients = ListAttribute(of=UnicodeAttribute, null=True)
    email_at = UnicodeAttribute(null=True)
    email_lease_until = NumberAttribute(null=True)
    email_error = UnicodeAttribute(null=True)

    webhook_status = UnicodeAttribute(default="none")
    webhook_url = UnicodeAttribute(null=True)  # where the last attempt went
    webhook_attempts = UnicodeAttribute(null=True)  # JSON list
    next_attempt_at = UnicodeAttribute(null=True)

    pending = UnicodeAttribute(null=True)  # "P" until the worker has the message

    by_pending = ByPendingIndex()
