"""What a batch of predictions must pass before it is built and queued, from what the model has stored:
its columns are the schema's, and its versions keep the model within ``max_versions_per_model``."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from loopwise.errors import LimitError
from loopwise.ingest import registered, remembered
from loopwise.ingest.validation import unknown_columns
from loopwise.schema import Schema
from loopwise.store.catalog import stored_versions


async def known_columns(readers: sessionmaker[Session], model: str, names: list[str]) -> None:
    """Refuse a batch naming more columns the model's schema has not than validation lists, before it is
    built (decision 0016). Fewer go on to validation, which answers as the local client does: every problem
    of the batch, a misspelt column as one (decision 0059)."""
    hit = remembered(readers.kw["bind"].engine, model)
    if hit is None:

        def look() -> tuple[int, Schema]:
            with readers() as s:
                return registered(s, model)

        hit = await run_in_threadpool(look)
    unknown_columns(hit[1], names)


#: The versions each model is known to have, by (database, model): a batch naming only known versions
#: costs no query. Another process's new versions are seen when the limit seems reached (read again then).
_VERSIONS: dict[tuple[str, str], set[str]] = {}
_versions_lock = threading.Lock()


async def versions_within(readers: sessionmaker[Session], model: str, names: set[str], limit: int) -> None:
    """Refuse a batch that would take a model past ``limit`` versions (413)."""
    key = (str(readers.kw["bind"].engine.url), model)
    with _versions_lock:
        known = _VERSIONS.get(key)
        if known is not None and names <= known:
            return
    if known is None or len(known | names) > limit:

        def stored() -> set[str]:
            with readers() as s:
                return stored_versions(s, registered(s, model)[0])

        known = await run_in_threadpool(stored)
    total = known | names
    if len(total) > limit:
        raise LimitError(
            f"model {model!r} would have {len(total)} versions; the limit is {limit} per model "
            "(LOOPWISE_MAX_VERSIONS_PER_MODEL)"
        )
    with _versions_lock:
        if len(_VERSIONS) > 10_000:  # bounded: forget everything rather than grow
            _VERSIONS.clear()
        _VERSIONS[key] = total  # counted before the write: a batch refused later only over-counts
