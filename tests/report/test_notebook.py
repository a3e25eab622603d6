"""Reports in notebooks and files: plotly.js once per notebook, to_html(path) gives the path, CDN."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from plotly.offline import get_plotlyjs
from tests._fixtures import mixed_frame
from tests._fixtures import run_cli as _cli

import loopwise as lw
from loopwise.report import html as report_html

PLOTLY_JS = get_plotlyjs()
#: The first line of plotly.js after its licence: present once wherever the library itself is.
PLOTLY_MARK = PLOTLY_JS[PLOTLY_JS.index("function(root, factory)") :][:200]


@pytest.fixture
def fresh_kernel() -> Iterator[None]:
    """A notebook session that has not shown a report yet (the state lives for the kernel's lifetime)."""
    saved = report_html._notebook["plotly_sent"]
    report_html._notebook["plotly_sent"] = False
    yield
    report_html._notebook["plotly_sent"] = saved


@pytest.fixture(scope="module")
def report() -> lw.Report:
    return lw.compare(mixed_frame(3000, 1), mixed_frame(3000, 2, shift=0.3))


def test_a_notebook_gets_plotly_js_once(report: lw.Report, fresh_kernel: None) -> None:
    # Three reports shown in one notebook: the saved notebook holds plotly.js once, not three times.
    outputs = [report._repr_html_(), lw.compare(mixed_frame(500, 3), mixed_frame(500, 4))._repr_html_()]
    outputs.append(report._repr_html_())
    notebook = "".join(outputs)
    assert notebook.count(PLOTLY_MARK) == 1 and PLOTLY_MARK in outputs[0]
    assert len(outputs[0]) > len(PLOTLY_JS) > 4_000_000
    # Later reports are their own size: tables, aggregates and the drawing code, no library.
    assert all(len(o) < 100_000 for o in outputs[1:])
    for o in outputs:
        assert "Plotly.newPlot" in o and "window.Plotly" in o
        assert not o.lstrip().startswith("<!doctype")  # a cell's fragment, not a page
    # Every output draws its own figures: the element ids of one never collide with another's.
    ids = [set(re.findall(r'id="(lw[0-9a-f]{8})-', o)) for o in outputs]
    assert all(len(i) == 1 for i in ids) and len(set.union(*ids)) == 3


def test_to_html_with_a_path_returns_the_path(report: lw.Report, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    out = report.to_html(target)
    assert out == target and isinstance(out, Path)
    assert len(repr(out)) < 200  # what a notebook cell shows as its last line
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and PLOTLY_MARK in text
    assert target.stat().st_size > len(PLOTLY_JS)
    # As a string path too, and without a path the page itself comes back.
    assert report.to_html(str(tmp_path / "b.html")) == tmp_path / "b.html"
    assert report.to_html().startswith("<!doctype html>")


def test_the_cdn_choice_loads_the_bundled_version_as_plotly_does(report: lw.Report) -> None:
    page = report.to_html(plotly="cdn")
    theirs = pio.to_html(go.Figure(), include_plotlyjs="cdn", full_html=False)
    src = re.search(r'src="(https://cdn\.plot\.ly/[^"]+)"', theirs)
    sri = re.search(r'integrity="([^"]+)"', theirs)
    assert src is not None and sri is not None
    assert f'src="{src.group(1)}"' in page and f'integrity="{sri.group(1)}"' in page
    assert PLOTLY_MARK not in page and len(page) < 200_000


def test_an_unknown_plotly_choice_is_refused(report: lw.Report, tmp_path: Path) -> None:
    with pytest.raises(lw.ParameterError, match="plotly"):
        report.to_html(tmp_path / "x.html", plotly="require")
    assert not (tmp_path / "x.html").exists()


def test_cli_writes_inline_or_cdn_and_reports_the_size(tmp_path: Path) -> None:
    mixed_frame(2000, 1).to_parquet(tmp_path / "ref.parquet")
    mixed_frame(2000, 2, shift=0.3).to_parquet(tmp_path / "cur.parquet")
    sizes = {}
    for choice in ("inline", "cdn"):
        path = tmp_path / f"{choice}.html"
        # inline is the default: no flag for it.
        flag = ["--plotly", "cdn"] if choice == "cdn" else []
        r = _cli(
            "compare",
            str(tmp_path / "ref.parquet"),
            str(tmp_path / "cur.parquet"),
            "--html",
            str(path),
            *flag,
        )
        assert r.returncode == 0, r.stderr
        sizes[choice] = path.stat().st_size
        # The size printed is the file's, in kB or MB.
        shown = re.search(rf"{re.escape(path.name)} \(([\d.]+) (kB|MB)", r.stderr)
        assert shown is not None, r.stderr
        factor = 1e6 if shown.group(2) == "MB" else 1e3
        assert float(shown.group(1)) * factor == pytest.approx(sizes[choice], rel=0.06)
    assert sizes["inline"] - sizes["cdn"] > 0.99 * len(PLOTLY_JS.encode("utf-8"))
    bad = _cli("compare", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--plotly", "web")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "--plotly" in bad.stderr


def test_the_report_of_a_gate_takes_the_same_choice(tmp_path: Path) -> None:
    from loopwise.checks import Check, Suite, le
    from loopwise.report.checks import render_suite

    result = Suite("g", [Check("drift_share", le(0.3))]).run(
        pd.DataFrame({"x": range(100)}), pd.DataFrame({"x": range(50, 150)})
    )
    assert PLOTLY_MARK in render_suite(result)
    assert PLOTLY_MARK not in render_suite(result, plotly="cdn")


DOC = Path(__file__).parents[2] / "docs" / "reports.md"


def test_the_examples_of_the_docs_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOC.read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(DOC), "exec"), {})
    assert (tmp_path / "report.html").exists() and (tmp_path / "report-cdn.html").exists()
    # The shell lines, on files of the names they use.
    ref, cur = mixed_frame(3000, 1), mixed_frame(2000, 2, shift=0.3)
    (tmp_path / "ref.lwp").write_bytes(lw.profile(ref).to_bytes())
    cur.to_parquet(tmp_path / "today.parquet")
    (block,) = re.findall(r"```bash\n(.*?)```", text, re.S)
    for line in block.strip().splitlines():
        command, comment = line.split("#", 1)
        args = command.split()
        assert args[0] == "loopwise"
        r = subprocess.run(
            [sys.executable, "-m", "loopwise.cli", *args[1:]],
            capture_output=True, text=True, timeout=180, check=False, cwd=tmp_path,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        # The comment shows what the command prints, apart from the size.
        said = re.sub(r"\([\d.]+ (kB|MB)", "(N", comment.strip())
        assert re.sub(r"\([\d.]+ (kB|MB)", "(N", r.stderr).count(said) == 1, (said, r.stderr)
