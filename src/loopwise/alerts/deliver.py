"""Sending queued deliveries, each claimed first so two processes never send it twice; failures retry with
exponential backoff and are recorded (the delivery log); nothing here ever raises into monitoring. A
channel whose environment variable is unset (MissingSettingError), or whose target resolves to an internal
address the operator does not allow (RefusedTargetError), fails at once, not retried."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from loopwise.alerts import channels as _channels
from loopwise.alerts.settings import AlertSettings
from loopwise.errors import MissingSettingError, RefusedTargetError
from loopwise.store import transaction
from loopwise.store.tables import AlertDelivery, Incident
from loopwise.store.types import utcnow

log = logging.getLogger("loopwise.alerts")

#: Attempts before a delivery is given up (``failed``); the wait doubles from ``FIRST_RETRY`` to ``MAX_WAIT``.
MAX_ATTEMPTS = 8
FIRST_RETRY = dt.timedelta(seconds=10)
MAX_WAIT = dt.timedelta(hours=1)
#: How long a claimed delivery is held before another process may try it (a sender that died).
SEND_LEASE = dt.timedelta(minutes=2)

Sender = Callable[[dict[str, Any], dict[str, Any], AlertSettings], None]


def backoff(attempts: int, first: dt.timedelta = FIRST_RETRY) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: ``first`` doubling, at most ``MAX_WAIT``."""
    wait: dt.timedelta = min(first * 2 ** (attempts - 1), MAX_WAIT)
    return wait


def _claim(s: Session, now: dt.datetime, limit: int, tried: set[int]) -> list[int]:
    # A message waits while an earlier one of its check (and segment) of the same monitor to the same
    # channel is still on its way: a "resolved" never overtakes the "opened" being retried, nor a later
    # incident's "opened" the one before's "resolved" (a catch-up over past windows sent opened, opened,
    # resolved, resolved). One given up (``failed``) no longer holds it.
    earlier = aliased(AlertDelivery)
    mine, theirs = aliased(Incident), aliased(Incident)
    behind = exists().where(
        mine.id == AlertDelivery.incident_id,
        theirs.id == earlier.incident_id,
        theirs.monitor_id == mine.monitor_id,
        theirs.check_name == mine.check_name,
        theirs.segment == mine.segment,
        earlier.channel == AlertDelivery.channel,
        earlier.id < AlertDelivery.id,
        earlier.state.in_(("pending", "sending")),
    )
    due = and_(
        or_(
            and_(AlertDelivery.state == "pending", AlertDelivery.next_attempt_at <= now),
            and_(AlertDelivery.state == "sending", AlertDelivery.lease_until < now),
        ),
        ~behind,
    )
    ids = []
    q = select(AlertDelivery.id).where(due).order_by(AlertDelivery.id).limit(limit)
    if tried:
        q = q.where(AlertDelivery.id.not_in(tried))
    for did in list(s.scalars(q)):
        r = s.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id == did, due)
            .values(state="sending", lease_until=now + SEND_LEASE, attempts=AlertDelivery.attempts + 1)
        )
        if r.rowcount == 1:  # type: ignore[attr-defined]
            ids.append(did)
    return ids


def deliver_pending(
    sessions: sessionmaker[Session],
    settings: AlertSettings,
    *,
    now: dt.datetime | None = None,
    limit: int = 50,
    sender: Sender | None = None,
    first_retry: dt.timedelta = FIRST_RETRY,
) -> dict[str, int]:
    """Send the deliveries that are due; ``{"sent": n, "retrying": n, "failed": n}``."""
    send = sender or _channels.send
    now = now or utcnow()
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    tried: set[int] = set()
    # In rounds: a message held behind an earlier one of its incident is due once that one is sent (each
    # message is tried at most once per call: one that failed waits for its backoff, then a later call).
    while len(tried) < limit:
        with transaction(sessions) as s:
            ids = _claim(s, now, limit - len(tried), tried)
            todo = [
                (d.id, d.message, d.attempts)
                for d in s.scalars(
                    select(AlertDelivery).where(AlertDelivery.id.in_(ids)).order_by(AlertDelivery.id)
                )
            ]
        if not todo:
            break
        tried.update(did for did, _, _ in todo)
        for did, message, attempts in todo:
            _attempt(sessions, send, settings, did, message, attempts, first_retry, counts)
    return counts


def _attempt(
    sessions: sessionmaker[Session],
    send: Sender,
    settings: AlertSettings,
    did: int,
    message: dict[str, Any],
    attempts: int,
    first_retry: dt.timedelta,
    counts: dict[str, int],
) -> None:
    """Send one claimed delivery and record the outcome (sent, retrying later, or given up)."""
    error: str | None = None
    permanent = False
    try:
        send(message["channel"], message, settings)
    except (MissingSettingError, RefusedTargetError) as exc:  # cannot succeed until the operator changes
        # the server's settings (sets the variable, allows the address) and restarts it: not retried
        error, permanent = f"{type(exc).__name__}: {exc}; not retried"[:2000], True
        log.warning("alert delivery %s failed for good: %s", did, error)
    except Exception as exc:  # any failure is the delivery's, recorded; monitoring goes on
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning("alert delivery %s failed (attempt %d): %s", did, attempts, error)
    with transaction(sessions) as s:
        d = s.get(AlertDelivery, did)
        if d is None:  # its monitor was deleted meanwhile
            return
        d.lease_until = None
        if error is None:
            d.state, d.sent_at, d.last_error = "sent", utcnow(), None
            counts["sent"] += 1
        elif permanent or attempts >= MAX_ATTEMPTS:
            d.state, d.last_error = "failed", error
            counts["failed"] += 1
        else:
            d.state, d.last_error = "pending", error
            d.next_attempt_at = utcnow() + backoff(attempts, first_retry)
            counts["retrying"] += 1


def delivery_counts(s: Session) -> dict[str, int]:
    """How many deliveries are in each state (every state listed, zero included)."""
    from sqlalchemy import func

    found = dict(s.execute(select(AlertDelivery.state, func.count()).group_by(AlertDelivery.state)).all())
    return {k: int(found.get(k, 0)) for k in ("pending", "sending", "sent", "failed", "silenced")}


def deliveries(s: Session, monitor_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """The monitor's delivery log, newest first (messages without their channel's settings)."""
    q = (
        select(AlertDelivery, Incident.check_name, Incident.segment)
        .join(Incident, Incident.id == AlertDelivery.incident_id)
        .where(Incident.monitor_id == monitor_id)
        .order_by(AlertDelivery.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": d.id,
            "incident_id": d.incident_id,
            "check": check,
            "segment": segment,
            "channel": d.channel,
            "event": d.event,
            "state": d.state,
            "attempts": d.attempts,
            "last_error": d.last_error,
            "next_attempt_at": d.next_attempt_at.isoformat(),
            "created_at": d.created_at.isoformat(),
            "sent_at": None if d.sent_at is None else d.sent_at.isoformat(),
            "text": d.message.get("text", ""),
        }
        for d, check, segment in s.execute(q)
    ]
