"""Usage alerts over HTTP: an account's (`/accounts/{id}/usage-alerts`) and an agency's
(`/agencies/{id}/usage-alerts`: its total, or each sub-account with one definition).

Who: an account's alerts are set by an admin of the account or of its agency and read
by anyone who reads the account; an agency's by the agency's own admins and users.
A new or changed alert takes a first look at its period once every writer knows of it
(services/notices.py `arm`): if the period already reached the threshold, it fires then.
The webhook secret is answered once, when a URL is set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..domain.access import AccessDenied, Action, Principal, authorize
from ..domain.accounts import Account
from ..domain.alerts import (
    ACCOUNT_ALERT_PREFIX,
    AGENCY_ALERT_PREFIX,
    MAX_ALERTS_PER_OWNER,
    AlertError,
    AlertPeriod,
    AlertScope,
    Measure,
    UsageAlert,
    check_combination,
    format_threshold,
    new_alert_id,
    parse_category,
    parse_threshold,
)
from ..domain.periods import format_instant
from ..domain.webhooks import new_secret
from ..observability import get_logger
from .access import require
from .cursors import next_cursor, resume_after
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .stores import stores

_ALERT_ID = re.compile(r"u[ag]_[0-9a-f]{20}")
WRITE_ATTEMPTS = 3  # a concurrent change of the same owner's alerts: read again and retry


def _owner(principal: Principal, owner_id: str, *, agency: bool, write: bool) -> Account:
    """The account whose alerts these are, if the principal may read (or change) them."""
    if not agency:
        return require(principal, Action.ADMIN if write else Action.READ, owner_id)
    owner = require(principal, Action.READ_AGENCY, owner_id)
    if write:
        try:
            authorize(principal, Action.ADMIN, owner_id, owner)
        except AccessDenied as denied:
            raise (NotFound if denied.status == 404 else Forbidden)(str(denied)) from None
    return owner


def _prefix(agency: bool) -> str:
    return AGENCY_ALERT_PREFIX if agency else ACCOUNT_ALERT_PREFIX


def _stored(owner: Account, alert_id: str, agency: bool) -> Any:
    ours = alert_id.startswith(_prefix(agency)) and _ALERT_ID.fullmatch(alert_id) is not None
    stored = stores().alerts.get(owner.account_id, alert_id) if ours else None
    if stored is None:
        raise NotFound(f"usage alert {alert_id!r} not found")
    return stored


def alert_view(alert: UsageAlert, owner: Account, secret: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": alert.alert_id,
        "owner_id": alert.owner_id,
        "scope": "agency" if alert.scope is not AlertScope.ACCOUNT else "account",
        "each_account": alert.scope is AlertScope.EACH_ACCOUNT,
        "name": alert.name,
        "category": alert.category.value if alert.category else "total",
        "measure": alert.measure.value,
        "period": alert.period.value,
        "threshold": format_threshold(alert.threshold, alert.measure),
        "currency": owner.currency if alert.measure is Measure.COST else None,
        "time_zone": owner.time_zone,
        "recipients": list(alert.recipients),
        "webhook_url": alert.webhook_url,
        "enabled": alert.enabled,
        "revision": alert.revision,
        "created_at": format_instant(alert.created_at),
        "updated_at": format_instant(alert.updated_at),
    }
    if secret is not None:
        view["webhook_secret"] = secret  # only now: it is not shown again
    return view


def _check(alert: UsageAlert) -> None:
    try:
        check_combination(alert.category, alert.measure)
    except AlertError as exc:
        raise BadRequest(str(exc)) from None
    if not alert.recipients and not alert.webhook_url:
        raise BadRequest("recipients: give at least one email address, or a webhook_url")


def _webhook(url: str | None) -> str | None:
    if url is None:
        return None
    from .webhooks import check_webhook_url

    return check_webhook_url(url)


def create_alert(principal: Principal, owner_id: str, body: object, *, agency: bool) -> dict[str, Any]:
    from ..domain.alert_schema import parse_new_alert

    owner = _owner(principal, owner_id, agency=agency, write=True)
    try:
        given = parse_new_alert(body)
        if given.each_account and not agency:
            raise AlertError("each_account: only an agency's alert watches each of its sub-accounts")
        measure = Measure(given.measure)
        scope = AlertScope.ACCOUNT
        if agency:
            scope = AlertScope.EACH_ACCOUNT if given.each_account else AlertScope.AGENCY
        now = stores().clock()
        alert = UsageAlert(
            owner_id=owner.account_id,
            alert_id=new_alert_id(scope),
            scope=scope,
            name=given.name,
            category=parse_category(given.category),
            measure=measure,
            period=AlertPeriod(given.period),
            threshold=parse_threshold(given.threshold, measure),
            recipients=tuple(given.recipients),
            webhook_url=_webhook(given.webhook_url),
            enabled=given.enabled,
            revision=1,
            created_at=now,
            updated_at=now,
        )
    except AlertError as exc:
        raise BadRequest(str(exc)) from None
    _check(alert)
    secret = new_secret() if alert.webhook_url else None
    _write(owner, alert, secret, principal.subject, new=True)
    return alert_view(alert, owner, secret)


def update_alert(principal: Principal, owner_id: str, alert_id: str, body: object, *, agency: bool) -> dict[str, Any]:
    from ..domain.alert_schema import parse_alert_change

    owner = _owner(principal, owner_id, agency=agency, write=True)
    stored = _stored(owner, alert_id, agency)
    current: UsageAlert = stored.alert
    try:
        change, fields = parse_alert_change(body)
        measure = Measure(change.measure) if change.measure is not None else current.measure
        if "threshold" in fields:
            threshold = parse_threshold(change.threshold, measure)
        elif measure is not current.measure:
            raise AlertError("threshold: give the threshold again when the measure changes")
        else:
            threshold = current.threshold
        updated = replace(
            current,
            name=change.name if "name" in fields and change.name is not None else current.name,
            category=parse_category(change.category) if "category" in fields else current.category,
            measure=measure,
            period=AlertPeriod(change.period) if "period" in fields and change.period else current.period,
            threshold=threshold,
            recipients=tuple(change.recipients or ()) if "recipients" in fields else current.recipients,
            webhook_url=_webhook(change.webhook_url) if "webhook_url" in fields else current.webhook_url,
            enabled=bool(change.enabled) if "enabled" in fields else current.enabled,
            updated_at=stores().clock(),
        )
    except AlertError as exc:
        raise BadRequest(str(exc)) from None
    _check(updated)
    # A changed watch (or an alert switched back on) starts afresh: a new revision, fired anew.
    if not updated.watches_the_same(current) or (updated.enabled and not current.enabled):
        updated = replace(updated, revision=current.revision + 1)
    secret = stored.webhook_secret
    shown = None
    if updated.webhook_url != current.webhook_url:
        secret = shown = new_secret() if updated.webhook_url else None
    _write(owner, updated, secret, None, new=False)
    return alert_view(updated, owner, shown)


def _write(owner: Account, alert: UsageAlert, secret: str | None, created_by: str | None, *, new: bool) -> None:
    from ..adapters.alerts_repo import WatchMoved
    from .notices import schedule_arming

    accounts, alerts = stores().accounts, stores().alerts
    before = owner.alert_watch
    for attempt in range(WRITE_ATTEMPTS):
        if attempt:
            fresh = accounts.get(owner.account_id)
            if fresh is None:
                raise NotFound(f"account {owner.account_id!r} not found")
            before = fresh.alert_watch
        others = [w for w in before if w.alert_id != alert.alert_id]
        if new and len(others) >= MAX_ALERTS_PER_OWNER:
            raise BadRequest(f"an account has at most {MAX_ALERTS_PER_OWNER} usage alerts: delete one first")
        if not new and len(others) == len(before):
            raise NotFound(f"usage alert {alert.alert_id!r} not found")
        try:
            alerts.save(alert, secret, created_by, before, [*others, alert.watch], new=new)
        except WatchMoved:
            continue
        if alert.enabled:
            try:
                schedule_arming(alert.owner_id, alert.alert_id, alert.revision)
            except Exception:  # the alert stands; only a period reached before writers knew it goes unseen
                get_logger().exception("usage alert not armed", extra={"alert_id": alert.alert_id})
        return
    raise Conflict("the account's usage alerts were being changed at the same time: try again")


def delete_alert(principal: Principal, owner_id: str, alert_id: str, *, agency: bool) -> None:
    from ..adapters.alerts_repo import WatchMoved

    owner = _owner(principal, owner_id, agency=agency, write=True)
    _stored(owner, alert_id, agency)
    before = owner.alert_watch
    for attempt in range(WRITE_ATTEMPTS):
        if attempt:
            fresh = stores().accounts.get(owner.account_id)
            before = fresh.alert_watch if fresh else ()
        try:
            stores().alerts.delete(owner.account_id, alert_id, before, [w for w in before if w.alert_id != alert_id])
        except WatchMoved:
            continue
        return
    raise Conflict("the account's usage alerts were being changed at the same time: try again")


def list_alerts(
    principal: Principal, owner_id: str, params: Mapping[str, str], limit: int, *, agency: bool
) -> dict[str, Any]:

    owner = _owner(principal, owner_id, agency=agency, write=False)
    scope = f"usage-alerts:{'agency' if agency else 'account'}:{owner.account_id}"
    after = resume_after(scope, {}, params.get("cursor"))
    alerts, last = stores().alerts.page(owner.account_id, _prefix(agency), limit, str(after["id"]) if after else None)
    return {
        "owner_id": owner.account_id,
        "items": [alert_view(a, owner) for a in alerts],
        "next_cursor": next_cursor(scope, {}, {"id": last} if last else None),
    }


def get_alert(principal: Principal, owner_id: str, alert_id: str, *, agency: bool) -> dict[str, Any]:
    owner = _owner(principal, owner_id, agency=agency, write=False)
    return alert_view(_stored(owner, alert_id, agency).alert, owner)


def list_firings(
    principal: Principal, owner_id: str, alert_id: str, params: Mapping[str, str], limit: int, *, agency: bool
) -> dict[str, Any]:

    owner = _owner(principal, owner_id, agency=agency, write=False)
    alert: UsageAlert = _stored(owner, alert_id, agency).alert
    scope = f"usage-alert-firings:{owner.account_id}:{alert_id}"
    after = resume_after(scope, {}, params.get("cursor"))
    notices, last = stores().notices.firings(alert_id, limit, str(after["id"]) if after else None)
    items = []
    for n in notices:
        data = n.data
        items.append(
            {
                "id": n.event_id,
                "alert_id": alert_id,
                "revision": n.revision,
                "account_id": n.account_id,
                "period": data.get("period"),
                "period_start": data.get("period_start"),
                "period_end": data.get("period_end"),
                "threshold": data.get("threshold"),
                "value": data.get("value"),
                "currency": data.get("currency"),
                "fired_at": n.created_at,
                "email": {
                    "status": n.email_status,
                    "recipients": list(n.email_recipients),
                    "at": n.email_at,
                    "error": n.email_error,
                },
                "webhook": {
                    "status": n.webhook_status,
                    "url": n.webhook_url,
                    "attempts": list(n.webhook_attempts),
                    "next_attempt_at": n.next_attempt_at,
                },
            }
        )
    return {
        "alert_id": alert.alert_id,
        "items": items,
        "next_cursor": next_cursor(scope, {}, {"id": last} if last else None),
    }
