"""``loopwise monitors add | list | run | history``: declare monitors, run their due windows (the cron
alternative to the server's scheduler), read their runs. A pass in which a run's checks fail, a window cannot
be run or an alert is given up on exits 1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loopwise._display import count
from loopwise.cli.client import CreateOpt, KeyOpt, LocalOpt, UrlOpt, connect
from loopwise.cli.common import EXIT_FAIL, console, out, print_json_list, print_listing, user_errors

monitors_app = typer.Typer(
    help="Monitors: a Suite run on each window of a model's traffic on a schedule, alerting on failures.",
    no_args_is_help=True,
)

ModelArg = Annotated[str, typer.Argument(help="The model's name.")]
NameArg = Annotated[str, typer.Argument(help="The monitor's name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _value(x: Any) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _where(segment: str) -> str:
    return f" [{segment}]" if segment else ""


def _failure(f: dict[str, Any]) -> str:
    if f["check"].startswith("detector:"):  # a detection says what changed and from when
        return f"{f['check']}: {f.get('condition', '')}"
    return f"{f['check']}{_where(f['segment'])} {_value(f.get('actual'))} against {f.get('condition', '')}"


def run_line(model: str, r: dict[str, Any]) -> str:
    """One run on one line: monitor, window, outcome and, when checks failed, which, by how much."""
    head = f"{model}/{r['monitor']} {r['window_start']} .. {r['window_end']}: "
    if r["state"] == "empty":
        return head + "no traffic"
    if r["state"] == "failed":
        return head + f"could not run ({r['error']})"
    # What failed and, when nothing did, what could not be computed (an ``error`` run says why).
    failed = [_failure(f) for f in r.get("failed") or []] or [_error(e) for e in r.get("errors") or []]
    text = head + f"{str(r['status']).upper()} ({r['n']:,} rows)"
    if failed:
        shown = "; ".join(failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        text += f": {shown}{more}"
    return text


def _error(e: dict[str, Any]) -> str:
    return f"{e['check']}{_where(e['segment'])} not computable ({e.get('reason') or 'no reason given'})"


def print_runs(model_of: list[tuple[str, dict[str, Any]]]) -> None:
    """One line per run; a stretch of consecutive windows without traffic is one line (a monitor declared
    with an old anchor catches up hundreds of empty windows)."""
    i = 0
    while i < len(model_of):
        m, r = model_of[i]
        j = i
        if r["state"] == "empty":
            while (
                j + 1 < len(model_of)
                and model_of[j + 1][1]["state"] == "empty"
                and model_of[j + 1][0] == m
                and model_of[j + 1][1]["monitor"] == r["monitor"]
            ):
                j += 1
        if j > i:
            first, last = r, model_of[j][1]
            lo = min(first["window_start"], last["window_start"])
            hi = max(first["window_end"], last["window_end"])
            line = f"{m}/{r['monitor']} {lo} .. {hi}: no traffic ({j - i + 1} windows)"
        else:
            line = run_line(m, r)
        out.print(line, highlight=False, markup=False, soft_wrap=True)
        i = j + 1


@monitors_app.command("add")
def add(
    model: ModelArg,
    spec: Annotated[Path, typer.Argument(help="The monitor as a YAML file (docs/monitors.md).")],
    replace: Annotated[bool, typer.Option("--replace", help="Change the monitor of that name.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
    create: CreateOpt = False,
) -> None:
    """Declare a monitor from a YAML file (--replace to change one)."""
    with user_errors():
        if not spec.is_file():
            raise FileNotFoundError(f"no monitor file {spec}")
        m = connect(url, api_key, local, create).model(model).add_monitor(spec, replace=replace)
    from loopwise._display import count
    from loopwise.alerts.channels import unset_variables

    console.print(
        f"monitor {m['name']!r} of model {model!r}: windows of {m['window']} every {m['step']}, the first "
        f"ending {m['anchor']}; {count(len(m['channels']), 'channel')}",
        highlight=False,
        markup=False,
    )
    for channel in m["channels"]:
        for unset in unset_variables(channel):
            # A warning, not a refusal: the server that sends the alerts may have the variable.
            console.print(
                f"warning: channel {channel['name']!r}: {unset} is not set here; the process that sends "
                "the alerts (the server) needs it, else each alert on this channel fails",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )


@monitors_app.command("list")
def list_monitors(
    model: ModelArg,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """List a model's monitors."""
    with user_errors():
        found = connect(url, api_key, local).model(model).monitors()
    if as_json:
        print_json_list(found)
        return
    table = Table(title=f"monitors of {model}", title_justify="left")
    cols = (
        "name",
        "window",
        "every",
        "reference",
        "segments",
        "channels",
        "detectors",
        "runs",
        "last window end",
    )
    for col in cols:
        table.add_column(col)
    for m in found:
        table.add_row(
            m["name"] + ("" if m.get("enabled", True) else " (paused)"),
            m["window"],
            m["step"],
            m["reference"] or "-",
            ", ".join(m["segments"]) or "-",
            ", ".join(c["name"] for c in m["channels"]) or "-",
            ", ".join(
                f"{d['name']} ({d['kind']} on {d.get('stream') or d.get('watch')})" for d in m["detectors"]
            )
            or "-",
            str(m["runs"]),
            m["last_window_end"] or "-",
        )
    out.print(table)


@monitors_app.command("run")
def run(
    model: Annotated[str | None, typer.Argument(help="The model (default: every model).")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="One monitor (default: all).")] = None,
    deliver: Annotated[bool, typer.Option(help="Send the alerts that are due.")] = True,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Run the due windows of monitors now, once (for cron); exit 1 when a run's checks fail, a window
    could not be run or an alert was given up on (one to retry does not count)."""
    import loopwise as lw

    with user_errors():
        if name is not None and model is None:
            raise lw.ParameterError("--name", name, "given with a MODEL argument")
        client = connect(url, api_key, local)
        models = [model] if model is not None else client.models()
        found: list[tuple[str, dict[str, Any]]] = []
        sent = {"sent": 0, "retrying": 0, "failed": 0}
        for m in models:
            report = client.model(m).run_monitors_report(name, deliver=deliver)
            found += [(m, r) for r in report["runs"]]
            for k, v in report["deliveries"].items():
                sent[k] = sent.get(k, 0) + v
    print_runs(found)
    alerts = ""
    if any(sent.values()):  # the alerts that were due: sent, or not (the delivery log says why)
        alerts = (
            f"; {count(sent['sent'], 'alert')} sent, {sent['retrying']} to retry, {sent['failed']} failed"
        )
    console.print(f"{count(len(found), 'window')} run{alerts}", highlight=False, markup=False)
    # For cron, whatever needs a person: a check that failed, a window that could not be run (its line says
    # why), an alert given up on (the delivery log says why). An alert to retry is the next pass's.
    if any(r["status"] == "fail" or r["state"] == "failed" for _, r in found) or sent["failed"]:
        raise typer.Exit(EXIT_FAIL)


@monitors_app.command("history")
def history(
    model: ModelArg,
    name: NameArg,
    limit: Annotated[int, typer.Option(help="Most runs shown (newest first), 1 to 1000.")] = 20,
    before: Annotated[
        str | None,
        typer.Option(help="Only windows ending before this time (ISO 8601): the page after a listing."),
    ] = None,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """A monitor's runs, newest window first, with what failed."""
    import loopwise as lw

    with user_errors():
        if not 1 <= limit <= 1000:  # checked here, not by typer, for one line like every other error
            raise lw.ParameterError("--limit", limit, "a number of runs from 1 to 1000")
        runs = connect(url, api_key, local).model(model).monitor_history(name, limit, before=before)
    if as_json:
        print_json_list(runs)
        return
    if not runs:
        since = f" with a window ending before {before}" if before else ""
        console.print(f"no runs{since}", highlight=False, markup=False)
        return
    print_runs([(model, {"monitor": name, **r}) for r in runs])
    if len(runs) == limit:  # there may be older windows: say how to page to them
        console.print(f"older windows: --before {runs[-1]['window_end']}", highlight=False, markup=False)


@monitors_app.command("incidents")
def incidents(
    model: ModelArg,
    name: NameArg,
    state: Annotated[str | None, typer.Option(help="Only incidents in this state: open or resolved.")] = None,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """A monitor's incidents (a failing check, per segment, from its first failing window until it
    passes again), newest first."""
    import loopwise as lw

    with user_errors():
        if state not in (None, "open", "resolved"):
            raise lw.ParameterError("--state", state, ("open", "resolved"))
        found = connect(url, api_key, local).model(model).incidents(name, state)
    print_listing(
        found,
        as_json,
        (
            "id",
            "check",
            "segment",
            "state",
            "severity",
            "failing windows",
            "last value",
            "opened",
            "resolved",
        ),
        lambda i: (
            str(i["id"]),
            f"{i['check']} {i['condition']}",
            i["segment"] or "-",
            i["state"],
            i["severity"],
            str(i["failures"]),
            _value(i["last_value"]),
            i["opened_at"],
            i["resolved_at"] or "-",
        ),
        empty=f"no {state + ' ' if state else ''}incidents",
    )


@monitors_app.command("deliveries")
def deliveries(
    model: ModelArg,
    name: NameArg,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """A monitor's delivery log: every alert message, the channel, its attempts and outcome, newest first."""
    with user_errors():
        found = connect(url, api_key, local).model(model).deliveries(name)
    print_listing(
        found,
        as_json,
        ("id", "incident", "event", "channel", "state", "attempts", "created", "sent", "last error"),
        lambda d: (
            str(d["id"]),
            str(d["incident_id"]),
            d["event"],
            d["channel"],
            d["state"],
            str(d["attempts"]),
            d["created_at"],
            d["sent_at"] or "-",
            d["last_error"] or "-",
        ),
        empty="no alerts sent or due",
    )


@monitors_app.command("delete")
def delete(
    model: ModelArg,
    name: NameArg,
    yes: Annotated[
        bool, typer.Option("--yes", help="Delete it: its runs, incidents and delivery log too.")
    ] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Delete a monitor with its runs, incidents and delivery log (--yes; `enabled: false` pauses one)."""
    import loopwise as lw

    with user_errors():
        handle = connect(url, api_key, local).model(model)
        found = {m["name"]: m for m in handle.monitors()}
        if name not in found:
            known = f"its monitors: {', '.join(sorted(found))}" if found else "it has none"
            raise lw.NotFoundError(f"model {model!r} has no monitor named {name!r}; {known}")
        if not yes:
            raise lw.ParameterError(
                "--yes",
                None,
                f"given to delete monitor {name!r} with its {found[name]['runs']:,} run(s), incidents and "
                "delivery log (to pause it instead: enabled: false, monitors add --replace)",
            )
        handle.delete_monitor(name)
    console.print(f"monitor {name!r} of model {model!r} deleted", highlight=False, markup=False)
