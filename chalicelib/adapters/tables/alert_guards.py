"""Table `alert_guards`: one item per agency with agency-wide usage alerts.

An agency's total is written by every balance of the agency (its own, and each
sub-account's on its own billing), in transactions that do not otherwise meet. A
transaction that decides an agency-wide alert reads `version`, then the agency's
rollups, and moves `version` on conditionally: two that read the same total cannot
both commit, so the one that reaches the threshold is the one that knows it.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model


class AlertGuardRecord(Model):
    TABLE_BASE = "alert_guards"

    class Meta:
        table_name = "unbound-alert_guards"
        billing_mode = "PAY_PER_REQUEST"

    scope_id = UnicodeAttribute(hash_key=True)  # the agency
    version = NumberAttribute(default=0)
