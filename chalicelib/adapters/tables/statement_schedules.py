"""Table `statement_schedules`: one recurring statement schedule per account.

Key: `account_id`. An enabled schedule carries `due_shard` and `next_run_at` (RFC 3339
UTC); a disabled one has neither, so the sparse index `by_next_run` (due shard,
next run) holds exactly the schedules that will run. The scheduler asks each shard
for `next_run_at <= now`: it reads the schedules that are due and nothing else,
never a scan. Shards (a few, fixed) keep one partition from taking every write.

`day_of_month` (monthly: 1-28, or -1 for the last day) and `hour` (the local hour of
a run) came later: a schedule stored without them runs on the 1st at 06:00, as every
schedule did before.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class ByNextRunIndex(GlobalSecondaryIndex["StatementScheduleRecord"]):
    class Meta:
        index_name = "by_next_run"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    next_run_at = UnicodeAttribute(range_key=True)


class StatementScheduleRecord(Model):
    TABLE_BASE = "statement_schedules"

    class Meta:
        table_name = "unbound-statement_schedules"
        billing_mode = "PAY_PER_REQUEST"

    account_id = UnicodeAttribute(hash_key=True)
    frequency = UnicodeAttribute()
    weekday = NumberAttribute(null=True)  # 0 = Monday; weekly only
    day_of_month = NumberAttribute(null=True)  # monthly only: 1..28, or -1 (the last day); absent: 1
    hour = NumberAttribute(null=True)  # local hour of the runs; absent: 6
    recipients = ListAttribute(of=UnicodeAttribute, default=list)
    enabled = BooleanAttribute()
    time_zone = UnicodeAttribute()  # the account's zone when the schedule was saved
    revision = NumberAttribute(default=1)
    due_shard = UnicodeAttribute(null=True)  # only while enabled (sparse index)
    next_run_at = UnicodeAttribute(null=True)
    last_run_at = UnicodeAttribute(null=True)  # the last scheduled run handed to the sender
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute(null=True)

    by_next_run = ByNextRunIndex()
