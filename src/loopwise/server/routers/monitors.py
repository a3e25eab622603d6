"""/v1/models/{model}/monitors: declare monitors, run their due windows, read runs, series, incidents and the
delivery log (decision 0035). Declaring, changing, deleting and running is ``manage``; reading is ``read``."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from loopwise.alerts import check_targets, deliveries, incidents
from loopwise.errors import DataError
from loopwise.loop import run_pass
from loopwise.monitors import (
    MonitorSpec,
    check_series,
    delete_monitor,
    get_monitor,
    get_run,
    list_monitors,
    monitor_row,
    put_monitor,
    runs,
)
from loopwise.server.bodies import parse_json, read_body
from loopwise.server.deps import Manager, Reader, RowId, factory, read_factory
from loopwise.server.routers.monitoring import _suite
from loopwise.server.routers.registry import as_utc
from loopwise.store import transaction
from loopwise.wire import errors, json_body, parse
from loopwise.wire.monitors import (
    DeliveryList,
    IncidentList,
    MonitorBody,
    MonitorDeleted,
    MonitorList,
    MonitorOut,
    MonitorSeries,
    RunList,
    RunMonitors,
    RunOut,
    RunReport,
)

router = APIRouter(prefix="/v1/models/{model}/monitors", tags=["monitors"])


async def _spec(request: Request) -> MonitorSpec:
    settings = request.app.state.settings
    body = parse(MonitorBody, parse_json(await read_body(request, settings.max_suite_bytes + 65536)))
    doc = body.model_dump(exclude_none=False)
    doc["suite"] = _suite(body.suite, settings).to_dict() if isinstance(body.suite, str) else body.suite
    _suite(doc["suite"], settings)  # the limits on a suite's size and checks
    if doc["renotify"] is None:
        del doc["renotify"]
    if doc["anchor"] is None:
        del doc["anchor"]
    spec = MonitorSpec.from_dict(doc)
    check_targets([dict(c) for c in spec.channels], settings.alerts)
    return spec


def _put(request: Request, model: str, spec: MonitorSpec, actor: str, replace: bool) -> MonitorOut:
    with transaction(factory(request)) as s:
        return MonitorOut.model_validate(put_monitor(s, model, spec, actor=actor, replace=replace).to_dict())


@router.post(
    "",
    status_code=201,
    response_model=MonitorOut,
    responses=errors(400, 403, 404, 409, 413, 422),
    openapi_extra=json_body(MonitorBody),
)
async def add_monitor(model: str, request: Request, who: Manager) -> MonitorOut:
    """Declare a monitor (409 if the model has one of that name: change it with PUT)."""
    spec = await _spec(request)
    return await run_in_threadpool(_put, request, model, spec, who.actor, False)


@router.put(
    "/{name}",
    response_model=MonitorOut,
    responses=errors(400, 403, 404, 413, 422),
    openapi_extra=json_body(MonitorBody),
)
async def replace_monitor(model: str, name: str, request: Request, who: Manager) -> MonitorOut:
    """Change a monitor; its runs and incidents stay, the next window follows the last one run."""
    spec = await _spec(request)
    if spec.name != name:
        raise DataError(
            f"the body names monitor {spec.name!r} but the path {name!r}; rename is not supported"
        )
    return await run_in_threadpool(_put, request, model, spec, who.actor, True)


@router.delete("/{name}", response_model=MonitorDeleted, responses=errors(403, 404))
def remove_monitor(model: str, name: str, request: Request, who: Manager) -> MonitorDeleted:
    """Delete a monitor with its runs, incidents and delivery log."""
    with transaction(factory(request)) as s:
        delete_monitor(s, model, name)
    return MonitorDeleted(model=model, deleted=name)


@router.get("", response_model=MonitorList, responses=errors(403, 404))
def list_all(model: str, request: Request, who: Reader) -> MonitorList:
    with read_factory(request)() as s:
        return MonitorList(monitors=[MonitorOut.model_validate(m.to_dict()) for m in list_monitors(s, model)])


@router.get("/{name}", response_model=MonitorOut, responses=errors(403, 404))
def read_monitor(model: str, name: str, request: Request, who: Reader) -> MonitorOut:
    with read_factory(request)() as s:
        return MonitorOut.model_validate(get_monitor(s, model, name).to_dict())


@router.post(
    "/{name}/run",
    response_model=RunReport,
    responses=errors(400, 403, 404, 422),
    openapi_extra=json_body(RunMonitors),
)
async def run_monitor(model: str, name: str, request: Request, who: Manager) -> RunReport:
    """Run the monitor's due windows now (those no process has run), apply them to the incidents and, with
    ``deliver``, send the alerts that are due."""
    raw = await read_body(request, 4096)
    body = parse(RunMonitors, parse_json(raw)) if raw.strip() else RunMonitors(deliver=True)

    def work() -> RunReport:
        with read_factory(request)() as s:
            mid = monitor_row(s, model, name).id
        out = run_pass(
            factory(request),
            read_factory(request),
            request.app.state.settings.alerts,
            monitor_ids=[mid],
            deliver=body.deliver,
        )
        return RunReport(
            offered=out.offered,
            runs=[RunOut.model_validate(r) for r in out.runs],
            deliveries=out.deliveries,
        )

    return await run_in_threadpool(work)


@router.get("/{name}/runs", response_model=RunList, responses=errors(403, 404))
def list_runs(
    model: str, name: str, request: Request, who: Reader, limit: int = 100, before: dt.datetime | None = None
) -> RunList:
    """The monitor's runs, newest window first (at most ``limit``, up to 1,000; with ``before``, the windows
    ending before then: the next page)."""
    with read_factory(request)() as s:
        found = runs(s, model, name, limit, before=None if before is None else as_utc(before))
    return RunList(model=model, monitor=name, runs=[RunOut.model_validate(r) for r in found])


@router.get("/{name}/runs/{run_id}", response_model=RunOut, responses=errors(403, 404))
def read_run(model: str, name: str, run_id: RowId, request: Request, who: Reader) -> RunOut:
    """One run with every check's result, whole and per segment: the evidence an alert links to."""
    with read_factory(request)() as s:
        return RunOut.model_validate(get_run(s, model, name, run_id))


@router.get("/{name}/series", response_model=MonitorSeries, responses=errors(403, 404))
def read_series(model: str, name: str, request: Request, who: Reader, limit: int = 1000) -> MonitorSeries:
    """Each check's value, threshold and status per window (the last ``limit`` windows run)."""
    with read_factory(request)() as s:
        return MonitorSeries.model_validate(check_series(s, model, name, limit))


@router.get("/{name}/incidents", response_model=IncidentList, responses=errors(403, 404))
def read_incidents(
    model: str, name: str, request: Request, who: Reader, state: str | None = None
) -> IncidentList:
    """The monitor's incidents, newest first (``state``: open or resolved)."""
    with read_factory(request)() as s:
        mid = monitor_row(s, model, name).id
        return IncidentList.model_validate({"incidents": incidents(s, mid, state)})


@router.get("/{name}/deliveries", response_model=DeliveryList, responses=errors(403, 404))
def read_deliveries(model: str, name: str, request: Request, who: Reader) -> DeliveryList:
    """The delivery log: every alert message, its channel, attempts, outcome and last error."""
    with read_factory(request)() as s:
        mid = monitor_row(s, model, name).id
        return DeliveryList.model_validate({"deliveries": deliveries(s, mid)})
