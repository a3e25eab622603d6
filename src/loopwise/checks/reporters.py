"""SuiteResult reporters: JSON, JUnit XML (GitHub Actions, GitLab, Jenkins) and Markdown (pull requests)."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from loopwise.checks.suite import SuiteResult


def to_json(result: SuiteResult) -> str:
    return json.dumps(result.to_dict(), indent=2, allow_nan=False)


def to_junit(result: SuiteResult) -> str:
    """One testsuite, one testcase per check: fail is <failure>, error <error>, warn passes with output."""
    counts = result.counts
    suite = ET.Element(
        "testsuite",
        {
            "name": result.suite,
            "tests": str(len(result.results)),
            "failures": str(counts["fail"]),
            "errors": str(counts["error"]),
            "skipped": "0",
            "time": f"{result.seconds:.3f}",
        },
    )
    for r in result.results:
        case = ET.SubElement(
            suite, "testcase", {"classname": f"loopwise.{result.suite}", "name": r.check.title, "time": "0"}
        )
        if r.status == "fail":
            ET.SubElement(case, "failure", {"message": r.message, "type": r.check.metric}).text = _detail(
                r.to_dict()
            )
        elif r.status == "error":
            ET.SubElement(
                case, "error", {"message": r.reason or r.message, "type": "NotComputableError"}
            ).text = r.message
        elif r.status == "warn":
            ET.SubElement(case, "system-out").text = f"WARNING: {r.message}"
        else:
            ET.SubElement(case, "system-out").text = r.message
    root = ET.Element(
        "testsuites",
        {
            "name": "loopwise",
            "tests": str(len(result.results)),
            "failures": str(counts["fail"]),
            "errors": str(counts["error"]),
        },
    )
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _detail(d: dict[str, Any]) -> str:
    keep = {
        k: d[k] for k in ("metric", "column", "segment", "actual", "condition", "reference_value") if d.get(k)
    }
    return json.dumps(keep)


_ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "error": "💥"}


_MARKUP = re.compile(r"([\\`*_\[\]|~])")


def _md(text: object) -> str:
    """Text as it reads, whatever it holds: on one line, no HTML, no Markdown syntax (a column name with a
    newline and a ``#`` must not make a heading, nor a ``<script>`` pass through to a pull request)."""
    one_line = " ".join(str(text).split())
    return _MARKUP.sub(r"\\\1", html.escape(one_line, quote=False))


def to_markdown(result: SuiteResult) -> str:
    """A pull-request comment: a heading, the counts, one table row per check (failures first).

    Example:
        >>> from loopwise.checks import Check, Suite, lt
        >>> import pandas as pd
        >>> suite = Suite("gate", [Check("missing_rate", lt(0.5), column="a\\n# <b>x</b>")])
        >>> print(to_markdown(suite.run(pd.DataFrame({"a\\n# <b>x</b>": [1.0, None, 3.0]}))).splitlines()[-1])
        | ✅ | missing\\_rate\\[a # &lt;b&gt;x&lt;/b&gt;\\] lt(0.5) | 0.3333 | &lt; 0.5 |  |
    """
    c = result.counts
    lines = [
        f"### loopwise: {_md(result.suite)}: **{result.status.upper()}**",
        "",
        f"{c['pass']} passed, {c['warn']} warned, {c['fail']} failed, {c['error']} could not be computed.",
        "",
        "| | check | actual | condition | note |",
        "|---|---|---|---|---|",
    ]
    order = {"fail": 0, "error": 1, "warn": 2, "pass": 3}
    for r in sorted(result.results, key=lambda r: order[r.status]):
        actual = "" if r.actual is None else f"{r.actual:.4g}"
        cells = (_ICON[r.status], _md(r.check.title), actual, _md(r.condition), _md(r.reason or ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
