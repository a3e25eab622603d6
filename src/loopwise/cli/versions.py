"""``loopwise models versions``: register, list and alias versions, read what held an alias when, evaluate a
version on logged traffic and compare two."""

from __future__ import annotations

import datetime as dt
import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loopwise.cli.client import CreateOpt, KeyOpt, LocalOpt, UrlOpt, connect, server_url
from loopwise.cli.common import console, out, print_listing, user_errors
from loopwise.errors import ISO_TIME

versions_app = typer.Typer(
    help=(
        "Model versions: register (with an artifact and lineage), list, move aliases, read their history, "
        "evaluate on logged traffic, compare."
    ),
    no_args_is_help=True,
)

ModelArg = Annotated[str, typer.Argument(help="The model's name.")]


def _client(url: str | None, key: str | None, local: Path | None, create: bool = False) -> Any:
    """As ``connect``; a local database reads the registry's settings (trust, artifact folder) from the
    environment, as a server does."""
    if server_url(url, local) is not None or local is None:
        return connect(url, key, None, create)
    import loopwise as lw
    from loopwise.registry import RegistrySettings

    return lw.Client.local(local, create=create, registry=RegistrySettings.from_env())


def _json_file_or_text(value: str | None, name: str) -> dict[str, Any]:
    """A JSON object given inline or as a path to a JSON or YAML file."""
    import loopwise as lw

    if value is None:
        return {}
    path = Path(value)
    if path.suffix in (".json", ".yaml", ".yml") and path.is_file():
        import yaml

        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    else:
        try:
            doc = jsonlib.loads(value)
        except jsonlib.JSONDecodeError as exc:
            raise lw.ParameterError(name, value, f"a JSON object or a .json/.yaml file ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise lw.ParameterError(name, value, "a JSON object")
    return doc


@versions_app.command("register")
def register(
    model: ModelArg,
    version: Annotated[str, typer.Argument(help="The version's name (letters, digits, '-', '_', '.').")],
    artifact: Annotated[
        Path | None, typer.Option("--artifact", "-a", help="The artifact file (skops or ONNX).")
    ] = None,
    flavor: Annotated[str, typer.Option("--flavor", "-f", help="sklearn, onnx or external.")] = "sklearn",
    sample: Annotated[
        Path | None,
        typer.Option("--sample", help="Rows (Parquet or CSV) for the dry prediction; else recent traffic."),
    ] = None,
    lineage: Annotated[
        str | None,
        typer.Option("--lineage", help="Lineage: a JSON object, or a .json/.yaml file (docs/registry.md)."),
    ] = None,
    reference: Annotated[
        Path | None, typer.Option("--reference", help="The training data (Parquet or CSV): its profile.")
    ] = None,
    uri: Annotated[str | None, typer.Option("--uri", help="Where an external artifact lives.")] = None,
    sha256: Annotated[str | None, typer.Option("--sha256", help="The artifact's expected sha256.")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
    create: CreateOpt = False,
) -> None:
    """Register a version: the artifact is checked by a dry prediction and stored by its sha256."""
    from loopwise.schema import read_path

    with user_errors():
        spec = _json_file_or_text(lineage, "--lineage")
        if reference is not None:
            spec["reference"] = read_path(reference)
        rows = read_path(sample) if sample is not None else None
        handle = _client(url, api_key, local, create).model(model)
        v = handle.register_version(
            version, artifact, flavor=flavor, lineage=spec, sample=rows, uri=uri, sha256=sha256
        )
    stored = f"{v.format}, {v.size} bytes, sha256 {v.sha256}" if v.size else f"{v.uri}, sha256 {v.sha256}"
    console.print(f"version {version!r} of {model!r} registered ({v.flavor}: {stored})", highlight=False)
    if v.dry_run:
        console.print(dry_run_text(v.dry_run), highlight=False, markup=False)


def dry_run_text(d: dict[str, Any]) -> str:
    """The registration's dry run in one line: the columns fed (and left unused), what came back."""
    line = f"dry run on {d.get('rows')} rows: fed {', '.join(d.get('fed', []))} (by {d.get('by', 'name')})"
    if d.get("unused"):
        line += f", not taken: {', '.join(d['unused'])}"
    got = d.get("got") or {}
    if got.get("prediction"):
        line += f"; got {got['prediction']} = {', '.join(got.get('values', []))}"
    for column, cls in (got.get("scores") or {}).items():
        line += f"; {column} = probability of {cls if cls is not None else '(no class known)'}"
    return line


@versions_app.command("list")
def list_versions(
    model: ModelArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """The model's versions, oldest first, with the aliases each holds now."""
    with user_errors():
        found = _client(url, api_key, local).model(model).versions()
    print_listing(
        found,
        as_json,
        ("version", "flavor", "format", "sha256", "aliases", "registered", "by"),
        lambda v: (
            v.name,
            v.flavor,
            v.format or "",
            (v.sha256 or "")[:12],
            ", ".join(v.aliases),
            v.created_at.isoformat(timespec="seconds"),
            v.created_by,
        ),
    )


@versions_app.command("alias")
def alias(
    model: ModelArg,
    name: Annotated[str, typer.Argument(help="The alias (champion, challenger, shadow, or any name).")],
    version: Annotated[
        str | None, typer.Argument(help="The version it points at (none with --unset).")
    ] = None,
    evidence: Annotated[
        str | None, typer.Option("--evidence", help="Why: a JSON object, or a .json/.yaml file.")
    ] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Make the alias point nowhere.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Move an alias to a version; the move is recorded (who, when, from, to, evidence)."""
    import loopwise as lw

    with user_errors():
        if (version is None) != unset:
            raise lw.ParameterError("VERSION/--unset", version, "a version, or --unset without one")
        moves = (
            _client(url, api_key, local)
            .model(model)
            .set_alias(name, version, evidence=_json_file_or_text(evidence, "--evidence"))
        )
    if not moves:
        console.print(f"{name!r} already points at {version!r}: nothing recorded", highlight=False)
    for m in moves:
        console.print(f"{m.alias}: {m.from_version or '-'} -> {m.to_version or '-'}", highlight=False)


@versions_app.command("history")
def history(
    model: ModelArg,
    name: Annotated[str | None, typer.Argument(help="The alias (all aliases when left out).")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Print only the version the alias held at this ISO time.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Every recorded move of an alias, oldest first; with --at, the version it held then."""
    import loopwise as lw

    with user_errors():
        handle = _client(url, api_key, local).model(model)
        if at is not None:
            if name is None:
                raise lw.ParameterError("ALIAS", None, "an alias with --at")
            try:
                when = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                raise lw.ParameterError("--at", at, ISO_TIME) from None
            held = handle.version_at(name, when)
            out.print(held if held is not None else "-", highlight=False, markup=False)
            return
        moves = handle.alias_history(name)
    print_listing(
        moves,
        as_json,
        ("at", "alias", "from", "to", "by", "evidence"),
        lambda m: (
            m.at.isoformat(timespec="seconds"),
            m.alias,
            m.from_version or "-",
            m.to_version or "-",
            m.actor,
            jsonlib.dumps(m.evidence),
        ),
    )


StartOpt = Annotated[str, typer.Option("--start", help="The window's start (ISO 8601; no zone: UTC).")]
EndOpt = Annotated[str, typer.Option("--end", help="The window's end, excluded (ISO 8601; no zone: UTC).")]


@versions_app.command("evaluate")
def evaluate(
    model: ModelArg,
    version: Annotated[str, typer.Argument(help="The version to run on the logged events.")],
    start: StartOpt,
    end: EndOpt,
    batch_rows: Annotated[int | None, typer.Option("--batch-rows", help="Events per batch.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Run a version on the events logged in [start, end) it has not answered yet; store its outputs."""
    with user_errors():
        run = (
            _client(url, api_key, local)
            .model(model)
            .evaluate_version(version, start=start, end=end, batch_rows=batch_rows)
        )
    if as_json:
        out.print_json(jsonlib.dumps(run.to_dict()))
        return
    speed = f", {run.rows_per_second:,.0f} rows/s" if run.rows_per_second else ""
    probe = (
        f", one row: p50 {run.latency['p50_ms']:.2f} ms, p99 {run.latency['p99_ms']:.2f} ms"
        if run.latency
        else ""
    )
    out.print(
        f"{version}: {run.evaluated} events evaluated, {run.already} already stored, "
        f"{run.served_by_version} served by it ({run.events} in the window){speed}{probe}",
        highlight=False,
        markup=False,
    )


@versions_app.command("compare")
def compare(
    model: ModelArg,
    start: StartOpt,
    end: EndOpt,
    champion: Annotated[str, typer.Option("--champion", help="A version or an alias.")] = "champion",
    challenger: Annotated[str, typer.Option("--challenger", help="A version or an alias.")] = "challenger",
    margin: Annotated[float | None, typer.Option("--margin", help="Non-inferiority margin.")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Challenger vs champion on the events both answered in [start, end), with the labels that arrived."""
    with user_errors():
        found = (
            _client(url, api_key, local)
            .model(model)
            .compare_versions(
                champion=champion, challenger=challenger, start=start, end=end, margin=margin, alpha=alpha
            )
        )
    if as_json:
        out.print_json(jsonlib.dumps(found.to_dict()))
        return
    table = Table("metric", found.champion, found.challenger, "difference", "interval", "p-value", "test")
    for c in found.comparisons:
        table.add_row(
            c["metric"],
            f"{c['champion']:.4f}",
            f"{c['challenger']:.4f}",
            f"{c['difference']:+.4f}",
            f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
            f"{c['p_value']:.4g}",
            c["test"],
        )
    if found.comparisons:
        out.print(table)
    agreement = "-" if found.agreement is None else f"{found.agreement:.1%}"
    out.print(
        f"{found.paired} paired events, {found.labels} labelled, agreement {agreement}: {found.verdict}",
        highlight=False,
        markup=False,
    )
