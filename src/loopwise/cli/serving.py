"""``loopwise versions predict`` and ``loopwise versions job``: the champion answering rows from a file (and
logging them), and a background evaluation's progress (decision 0029)."""

from __future__ import annotations

import json as jsonlib
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from loopwise.cli.client import KeyOpt, LocalOpt, UrlOpt
from loopwise.cli.common import console, out, user_errors
from loopwise.cli.versions import EndOpt, ModelArg, StartOpt, _client, versions_app


@versions_app.command("predict")
def predict(
    model: ModelArg,
    data: Annotated[
        Path, typer.Argument(help="Parquet or CSV file of the rows to answer (feature columns).")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the answers here (.parquet or .csv).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answers as JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """Run the champion on the rows, log them with its answers under its version, and print or write the
    answers with their event ids (the version holding ``shadow`` answers the same events beside it)."""
    with user_errors():
        if output is not None and output.suffix.lower() not in (".parquet", ".csv"):
            import loopwise as lw

            raise lw.ParameterError("--output", str(output), "a .parquet or .csv file")
        served = _client(url, api_key, local).model(model).predict(data)
        if output is not None:
            _write(served, output)
    if as_json:
        out.print_json(jsonlib.dumps(served.to_dict(), default=str))
        return
    shadow = f"; {served.shadow!r} answers them in shadow" if served.shadow else ""
    where = f", written to {output}" if output is not None else ""
    console.print(
        f"{len(served.event_ids):,} rows answered by {served.version!r} and logged "
        f"({served.accepted:,} new, {served.duplicates:,} already stored){shadow}{where}",
        highlight=False,
        markup=False,
    )
    if output is None and not as_json:
        for e, p in list(zip(served.event_ids, served.predictions, strict=True))[:10]:
            out.print(f"{e}\t{p}", highlight=False, markup=False)
        if len(served.event_ids) > 10:
            out.print(f"... and {len(served.event_ids) - 10:,} more (-o writes them all)", highlight=False)


def _write(served: Any, output: Path) -> None:
    import pyarrow as pa

    columns: dict[str, Any] = {
        "event_id": served.event_ids,
        "version": [served.version] * len(served.event_ids),
        "prediction": served.predictions,
    }
    if served.scores is not None:
        classes = sorted({str(c) for row in served.scores for c in row})
        for c in classes:
            columns[f"p_{c}"] = [row.get(c) for row in served.scores]
    table = pa.table(columns)
    if output.suffix.lower() == ".csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, output)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, output)


@versions_app.command("start-evaluation")
def start_evaluation(
    model: ModelArg,
    version: Annotated[str, typer.Argument(help="The version to run on the logged events.")],
    start: StartOpt,
    end: EndOpt,
    batch_rows: Annotated[int | None, typer.Option("--batch-rows", help="Events per batch.")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Start an evaluation on a server as a background job and print its id (`versions job` follows it)."""
    with user_errors():
        if url is None:
            import loopwise as lw

            # A local evaluation runs in this process, which ends when the command does: `evaluate` it.
            raise lw.ParameterError("--url", None, "a server's address (locally, run `versions evaluate`)")
        job = (
            _client(url, api_key, None)
            .model(model)
            .start_evaluation(version, start=start, end=end, batch_rows=batch_rows)
        )
    out.print(job.id, highlight=False, markup=False)
    console.print(f"job {job.id} {job.state}: `loopwise versions job {model} {job.id} --wait` follows it")


@versions_app.command("job")
def job(
    model: ModelArg,
    job_id: Annotated[str, typer.Argument(help="The job's id, as `start-evaluation` printed it.")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow it until it ends (exit 1 if it fails).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    local: LocalOpt = None,
) -> None:
    """A background job's state and progress; with --wait, a progress bar until it ends."""
    from loopwise.cli.common import row_progress

    with user_errors():
        found = _client(url, api_key, local).model(model).job(job_id)
        if wait and not found.done:
            with row_progress(f"job {job_id}") as progress:
                while not found.refresh().done:
                    p = found.progress
                    progress(int(p.get("done", 0)), int(p.get("total", 0)))
                    time.sleep(0.5)
    if as_json:
        out.print_json(
            jsonlib.dumps(
                {
                    "id": found.id,
                    "state": found.state,
                    "progress": found.progress,
                    "result": found.result,
                    "error": found.error,
                    "stalled": found.stalled,
                }
            )
        )
    else:
        p = found.progress
        line = f"job {found.id}: {found.state}, {p.get('done', 0):,} of {p.get('total', 0):,} events"
        if found.stalled:
            line += " (stalled: its process stopped writing progress)"
        if found.error:
            line += f": {found.error}"
        out.print(line, highlight=False, markup=False)
    if found.state == "failed" or found.stalled:
        raise typer.Exit(1)
