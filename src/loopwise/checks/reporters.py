"""SuiteResult reporters: JSON, JUnit XML (GitHub Actions, GitLab, Jenkins) and Markdown (pull requests)."""

from __future__ import annotations

import json
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
#: Characters that mean something to (GitHub-flavoured) Markdown or to the HTML it lets through, written as
#: character references: CommonMark reads a reference as the literal character, never as markup.
_MD_SPECIAL = {c: f"&#{ord(c)};" for c in "&<>|`*_[]\\~#@!$"}
_MD_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": " "}


def md_text(x: object) -> str:
    """``x`` as literal text in one Markdown table cell or heading: no markup, no HTML, no new line.

    Example:
        >>> print(md_text("a|b\\n# <img>"))
        a&#124;b&#92;n&#35; &#60;img&#62;
    """
    text = "".join(_MD_CONTROL.get(ch, ch) for ch in str(x))
    # Other control characters (a form feed, a NUL) are shown by their escape, not passed through.
    text = "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)
    return "".join(_MD_SPECIAL.get(ch, ch) for ch in text)


def to_markdown(result: SuiteResult) -> str:
    """A pull-request comment: the verdict, the drifted columns, a row per check (every value escaped)."""
    c = result.counts
    lines = [
        f"### loopwise: {md_text(result.suite)}: **{result.status.upper()}**",
        "",
        f"{c['pass']} passed, {c['warn']} warned, {c['fail']} failed, {c['error']} could not be computed.",
        "",
    ]
    found, drifted = result.drift_found, result.drifted_columns
    if found is not None and drifted is not None:
        names = "; ".join(
            ", ".join(f"<code>{md_text(n)}</code>" for n in columns) + f" (by <code>{md_text(title)}</code>)"
            for title, columns in found
        )
        lines += [f"Drifted columns ({len(drifted)}): {names or 'none'}", ""]
    lines += ["| | check | actual | condition | note |", "|---|---|---|---|---|"]
    order = {"fail": 0, "error": 1, "warn": 2, "pass": 3}
    for r in sorted(result.results, key=lambda r: order[r.status]):
        actual = md_text(r.actual_text)
        lines.append(
            f"| {_ICON[r.status]} | <code>{md_text(r.check.title)}</code> | {actual} | "
            f"{md_text(r.condition)} | {md_text(r.reason or '')} |"
        )
    return "\n".join(lines) + "\n"
