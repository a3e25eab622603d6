"""What actually served: the versions logged events carry, counted over a time range.

An alias says which version was *meant* to serve; the events say which one did (``model.log(...,
version=...)`` records it per event). The audit question "what decided this at T" needs both.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loopwise.errors import ParameterError
from loopwise.ingest import get_model
from loopwise.store.tables import Event


def served(s: Session, model_name: str, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """Events per version among the model's events with a time in [start, end), by version name."""
    for name, t in (("start", start), ("end", end)):
        if t.tzinfo is None:
            raise ParameterError(name, t, "a timezone-aware datetime")
    if end <= start:
        raise ParameterError("end", end, f"a time after start ({start.isoformat()})")
    model = get_model(s, model_name)
    # The bucket bounds let the (model, version, bucket) index narrow the rows before times are compared.
    first = start.replace(minute=0, second=0, microsecond=0)
    q = (
        select(Event.version, func.count())
        .where(
            Event.model_id == model.id,
            Event.bucket >= first,
            Event.bucket < end,
            Event.ts >= start,
            Event.ts < end,
        )
        .group_by(Event.version)
        .order_by(Event.version)
    )
    return {str(v): int(n) for v, n in s.execute(q).all()}
