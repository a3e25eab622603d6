"""Rich notebook displays (``_repr_html_``) of the library's results: small, escaped HTML tables.

Every result type a notebook user looks at (Schema, Profile, DriftResult, SuiteResult, ...) renders
through these few helpers, so that all of them look alike and every value goes through one escape.
Only the standard library is used: the pure library never imports a template engine, and a table
of a few dozen cells does not need one.

Example:
    >>> print(table(["name", "value"], [["<b>", 1.5]]).replace("><", ">\\n<"))
    <table class="lw-t">
    <thead>
    <tr>
    <th>name</th>
    <th>value</th>
    </tr>
    </thead>
    <tbody>
    <tr>
    <td>&lt;b&gt;</td>
    <td class="n">1.5000</td>
    </tr>
    </tbody>
    </table>
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

#: Longer tables are cut here, with a last line saying how many rows were left out.
MAX_ROWS = 40

_STYLE = (
    "<style>.lw-r{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:13px;"
    "color:#222}.lw-r .lw-h{font-weight:600;margin:2px 0 6px}.lw-r .lw-m{color:#666}"
    ".lw-r table.lw-t{border-collapse:collapse;margin:2px 0 6px}.lw-r .lw-t th,.lw-r .lw-t td"
    "{padding:2px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}"
    ".lw-r .lw-t td.n{text-align:right;font-variant-numeric:tabular-nums}.lw-r .lw-bad{color:#d62728;"
    "font-weight:600}.lw-r .lw-ok{color:#2ca02c;font-weight:600}.lw-r .lw-warn{color:#b26b00}</style>"
)


class Safe(str):
    """HTML built here from escaped parts: passed through as is."""


def esc(x: Any) -> str:
    """``x`` as HTML text: a Safe fragment as is, anything else escaped (quotes too)."""
    if isinstance(x, Safe):
        return str(x)
    return html.escape(str(x), quote=True)


def num(x: Any) -> str:
    """A number as a person reads it: thousands separators for counts, 4 decimals or 3 significant digits."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
            return f"{x:.3g}"
        return f"{x:.4f}"
    return str(x)


def pct(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.1%}"


def interval(value: float | None, lo: float | None, hi: float | None) -> str:
    """``value [lo, hi]``, or the value alone when there is no interval."""
    if value is None:
        return ""
    if lo is None or hi is None:
        return num(value)
    return f"{num(value)} [{num(lo)}, {num(hi)}]"


def status(text: str, good: bool | None) -> Safe:
    """A verdict in green (good), red (bad) or plain (None)."""
    cls = "" if good is None else ("lw-ok" if good else "lw-bad")
    return Safe(f'<span class="{cls}">{esc(text)}</span>')


def _cell(x: Any) -> str:
    if x is None:
        return "<td></td>"
    if isinstance(x, bool):
        return f"<td>{num(x)}</td>"
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return f'<td class="n">{esc(num(x))}</td>'
    return f"<td>{esc(x)}</td>"


def table(headers: Sequence[str] | None, rows: Iterable[Sequence[Any]], *, limit: int = MAX_ROWS) -> str:
    """An HTML table; numbers right-aligned; beyond ``limit`` rows, a line says how many were left out."""
    rows = list(rows)
    width = len(headers) if headers else max((len(r) for r in rows), default=1)
    head = "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr></thead>" if headers else ""
    body = "".join("<tr>" + "".join(_cell(x) for x in row) + "</tr>" for row in rows[:limit])
    if len(rows) > limit:
        body += f'<tr><td class="lw-m" colspan="{width}">... and {len(rows) - limit:,} more</td></tr>'
    return f'<table class="lw-t">{head}<tbody>{body}</tbody></table>'


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """A two-column table of names and values, without a header (values that are None are left out)."""
    return table(None, [(k, v) for k, v in pairs if v is not None and v != ""])


def block(title: str, *parts: str, subtitle: str = "", notes: Iterable[str] = ()) -> str:
    """One display: a bold title, a muted subtitle, the parts (already HTML), and notes (escaped)."""
    sub = f' <span class="lw-m">{esc(subtitle)}</span>' if subtitle else ""
    items = "".join(f"<li>{esc(n)}</li>" for n in notes)
    note_html = f'<ul class="lw-warn">{items}</ul>' if items else ""
    head = f'<div class="lw-h">{esc(title)}{sub}</div>'
    return f'{_STYLE}<div class="lw-r">{head}{"".join(parts)}{note_html}</div>'


__all__ = ["MAX_ROWS", "Safe", "block", "esc", "fields", "interval", "num", "pct", "status", "table"]


def count(n: int, word: str, plural: str | None = None) -> str:
    """``n`` and the noun agreeing with it, for messages and verdicts.

    >>> count(1, "check"), count(2, "check"), count(0, "label"), count(3, "type", "types")
    ('1 check', '2 checks', '0 labels', '3 types')
    """
    return f"{n} {word if n == 1 else (plural or word + 's')}"
