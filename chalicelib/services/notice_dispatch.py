"""Queue notices for delivery (services/notices.py delivers them).

Apart from the delivery worker so that what records notices (the ledger writer's alert
check, billing events for webhooks) and what delivers them do not import each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..observability import get_logger
from .stores import stores

if TYPE_CHECKING:
    from ..domain.alerts import Firing


def dispatch_notices(keys: Sequence[tuple[str, str]]) -> None:
    """Queue the delivery of these notices (owner, id); a failure leaves them to `redrive`."""
    if not keys:
        return

    try:
        stores().queues.send_notices(
            [{"type": "deliver", "owner": owner, "id": notice_id} for owner, notice_id in keys]
        )
    except Exception:
        get_logger().exception("notices not queued (redrive queues them again)", extra={"notices": list(keys)})


def dispatch_firings(firings: Sequence[Firing]) -> None:
    from ..adapters.notices_repo import alert_owner

    dispatch_notices([(alert_owner(f.watch.alert_id), f.firing_id) for f in firings])
