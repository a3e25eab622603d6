"""``loopwise versions gate|gate-results|promote|promotions|approve|promotion-policy|rollback`` (also under
``loopwise models versions``),
``loopwise history`` and ``loopwise audit verify|export``: the gate, promotion and the audit trail from the
shell. A gate that does not pass (fail or inconclusive) and an audit chain that does not verify exit 1;
errors exit 2 with one line."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from loopwise.cli.client import KeyOpt, LocalOpt, UrlOpt
from loopwise.cli.common import (
    EXIT_FAIL,
    PLOTLY_HELP,
    check_plotly,
    console,
    out,
    print_listing,
    user_errors,
)
from loopwise.cli.versions import EndOpt, ModelArg, StartOpt, _client, versions_app

if TYPE_CHECKING:
    from loopwise.registry.history import History

VersionArg = Annotated[str, typer.Argument(help="The version (the challenger).")]
AliasOpt = Annotated[str, typer.Option("--alias", help="The alias to move.")]


@versions_app.command("gate")
def gate(
    model: ModelArg,
    version: VersionArg,
    start: StartOpt,
    end: EndOpt,
    suite: Annotated[
        Path | None,
        typer.Option("--suite", help="The gate suite (YAML); default: the challenger_gate preset."),
    ] = None,
    champion: Annotated[str, typer.Option("--champion", help="A version or an alias.")] = "champion",
    html: Annotated[Path | None, typer.Option("--html", help="Write the gate's HTML report here.")] = None,
    plotly: Annotated[str, typer.Option(help=PLOTLY_HELP)] = "inline",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Run a gate on a version against the champion over [start, end): exit 0 when it passes, 1 when it
    fails or is inconclusive."""
    with user_errors():
        check_plotly(plotly)
        spec = suite.read_text(encoding="utf-8") if suite is not None else None
        found = (
            _client(url, api_key, local)
            .model(model)
            .gate(version, spec, start=start, end=end, champion=champion)
        )
        if html is not None:
            from loopwise.report.gate import render_gate

            html.write_text(render_gate(found, plotly=plotly), encoding="utf-8")
    if as_json:
        out.print_json(jsonlib.dumps(found.to_dict()))
    else:
        from loopwise.checks.check import actual_text

        table = Table("status", "check", "actual", "condition", "note")
        for c in found.checks.get("checks", []):
            actual = actual_text(c["metric"], c.get("actual"), c.get("evidence"))
            table.add_row(c["status"], c["name"], actual, c.get("condition") or "", c.get("reason") or "")
        out.print(table)
        i = found.inputs
        out.print(
            f"gate {found.id}: {found.version} vs {found.champion}, {i['paired']} paired events, "
            f"{i['labels']} labelled: {found.verdict}",
            highlight=False,
            markup=False,
        )
    if not found.passed:
        raise typer.Exit(EXIT_FAIL)


@versions_app.command("promote")
def promote(
    model: ModelArg,
    version: VersionArg,
    alias: AliasOpt = "champion",
    force: Annotated[bool, typer.Option("--force", help="An admin's promotion without the gate.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (required with --force).")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Promote a version as the model's policy allows (its latest gate result must pass), or record a
    request for another maintainer to approve."""
    with user_errors():
        p = _client(url, api_key, local).model(model).promote(version, alias, force=force, reason=reason)
    if p.status == "pending":
        out.print(
            f"promotion {p.id} of {version} to {alias} is pending: another maintainer or admin approves it "
            f"(loopwise versions approve {model} {p.id})",
            highlight=False,
            markup=False,
        )
        return
    gate = f" (gate result {p.gate_result})" if p.gate_result is not None else ""
    out.print(f"{alias}: {version}, {p.status}{gate}", highlight=False, markup=False)
    _closed(p.superseded)


def _closed(superseded: list[int]) -> None:
    """The pending requests a promotion closed as superseded, when there were any."""
    if superseded:
        ids = ", ".join(str(i) for i in superseded)
        out.print(f"closed as superseded: promotion request(s) {ids}", highlight=False, markup=False)


@versions_app.command("approve")
def approve(
    model: ModelArg,
    request_id: Annotated[int, typer.Argument(help="The promotion request's id.")],
    comment: Annotated[str | None, typer.Option("--comment", help="Recorded with the approval.")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Approve a pending promotion (not your own) and move the alias."""
    with user_errors():
        p = _client(url, api_key, local).model(model).approve(request_id, comment=comment)
    out.print(f"{p.alias}: {p.version}, approved by {p.decided_by}", highlight=False, markup=False)
    _closed(p.superseded)


@versions_app.command("gate-results")
def gate_results(
    model: ModelArg,
    version: Annotated[
        str | None, typer.Argument(help="Only this version's (default: every version's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """The stored gate results, newest first: what a promotion cites."""
    with user_errors():
        found = _client(url, api_key, local).model(model).gate_results(version)
    print_listing(
        found,
        as_json,
        ("id", "version", "against", "status", "labels", "run at", "by", "verdict"),
        lambda g: (
            str(g.id),
            g.version,
            g.champion,
            g.status,
            str(g.inputs.get("labels", "")),
            g.created_at.isoformat(timespec="seconds"),
            g.actor,
            g.verdict,
        ),
        f"no gate results for {version or 'any version'} of {model!r}",
    )


@versions_app.command("promotions")
def list_promotions(
    model: ModelArg,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only these: pending, promoted, approved, forced or superseded."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """The model's promotions, newest first (``--status pending``: the requests waiting for approval)."""
    with user_errors():
        found = _client(url, api_key, local).model(model).promotions(status)
    print_listing(
        found,
        as_json,
        ("id", "version", "alias", "status", "requested by", "requested at", "decided by", "gate"),
        lambda p: (
            str(p.id),
            p.version,
            p.alias,
            p.status,
            p.requested_by,
            p.requested_at.isoformat(timespec="seconds"),
            p.decided_by or "-",
            "-" if p.gate_result is None else str(p.gate_result),
        ),
        f"no {status + ' ' if status else ''}promotions of {model!r}",
    )


@versions_app.command("promotion-policy")
def promotion_policy(
    model: ModelArg,
    mode: Annotated[
        str | None,
        typer.Argument(help="Set it (an admin's decision): gate, gate+approval or approval; else print it."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """What a promotion of the model's versions needs: the gate, the gate and an approval, or an approval."""
    with user_errors():
        found = _client(url, api_key, local).model(model).promotion_policy(mode)
    if as_json:
        out.print_json(jsonlib.dumps({"model": model, "policy": found}))
        return
    out.print(f"promotion policy of {model}: {found}", highlight=False, markup=False)


@versions_app.command("rollback")
def rollback(
    model: ModelArg,
    alias: AliasOpt = "champion",
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded).")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Move the alias back to the version that held it before its last move."""
    with user_errors():
        moves = _client(url, api_key, local).model(model).rollback(alias, reason=reason)
    for m in moves:
        out.print(
            f"{m.alias}: {m.from_version or '-'} -> {m.to_version or '-'}", highlight=False, markup=False
        )


def history(
    model: ModelArg,
    at: Annotated[
        str | None, typer.Option("--at", help="The time (ISO 8601; no zone: UTC); default now.")
    ] = None,
    alias: Annotated[
        str, typer.Option("--alias", help="The alias to look up (what it pointed at then).")
    ] = "champion",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """What held an alias at a time, who promoted it, the gate result that allowed it, what served then."""
    with user_errors():
        h = _client(url, api_key, local).model(model).history(at, alias=alias)
    if as_json:
        out.print_json(jsonlib.dumps(h.to_dict()))
        return
    lines = [f"{alias} at {h.at.isoformat()}: {h.version or '-'}"]
    if h.move is not None:
        lines.append(
            f"moved there by {h.move.actor} at {h.move.at.isoformat()} ({jsonlib.dumps(h.move.evidence)})"
        )
    if h.promotion is not None:
        p = h.promotion
        lines.append(
            f"promotion {p.get('id')}: {p.get('status')}, requested by {p.get('requested_by')}, "
            f"decided by {p.get('decided_by')}" + (f", reason: {p['reason']}" if p.get("reason") else "")
        )
    if h.gate_result is not None:
        g = h.gate_result
        lines.append(f"gate result {g.get('id')}: {g.get('verdict')}")
    lines.append(served_line(h))
    for line in lines:
        out.print(line, highlight=False, markup=False)


def served_line(h: History) -> str:
    """What the events logged within an hour either side of the time say served (the window ``history``
    reads by default): the count per version and the last event at or before it, or that there were none
    (the trial read "none; the last one by -" as though nothing had ever served).

    Example:
        >>> import datetime as dt
        >>> from loopwise.registry import History
        >>> at = dt.datetime(2026, 12, 5, 9, tzinfo=dt.UTC)
        >>> print(served_line(History("credit", "champion", at, "v2", None, None, None)))
        no events served within an hour either side of 2026-12-05T09:00:00+00:00
    """
    if not h.served:
        return f"no events served within an hour either side of {h.at.isoformat()}"
    counts = ", ".join(f"{v}: {n}" for v, n in h.served.items())
    line = f"events served within an hour either side: {counts}"
    if not h.events:
        return f"{line}; none at or before {h.at.isoformat()}"
    last = h.events[0]
    return f"{line}; the last at or before then by {last['version'] or '-'} at {last['ts']}"


audit_app = typer.Typer(
    help="The tamper-evident audit trail: verify its hash chain, export it.", no_args_is_help=True
)


@audit_app.command("verify")
def verify(
    model: ModelArg,
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="A head hash kept elsewhere (printed by an earlier verify): the chain must still hold it.",
        ),
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Recompute the model's audit chain and check its version and alias rows against it; exit 1 naming the
    first edited or deleted entry or changed row. Prints the chain's head hash: keep it elsewhere."""
    with user_errors():
        found = _client(url, api_key, local).model(model).verify_audit(head)
    if found["ok"]:
        heads = found.get("heads") or {}
        said = "".join(f"; head of {c}: #{h['seq']} {h['hash']}" for c, h in heads.items())
        out.print(f"audit chain intact: {found['entries']} entries{said}", highlight=False, markup=False)
        return
    console.print(f"audit chain broken: {found['problem']['text']}", highlight=False, markup=False)
    raise typer.Exit(EXIT_FAIL)


@audit_app.command("export")
def export(
    model: ModelArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The JSON Lines file (default: stdout).")
    ] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Write the model's audit entries as JSON Lines, with their hashes (for a compliance archive)."""
    with user_errors():
        rows = _client(url, api_key, local).model(model).audit()
        text = "".join(jsonlib.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
    if output is not None:
        console.print(f"{len(rows)} entries written to {output}", highlight=False, markup=False)
