"""The Markdown gate summary with hostile column names: rendered as Markdown, nothing but text comes out."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pandas as pd
from markdown_it import MarkdownIt

import loopwise as lw
from loopwise.checks import eq, le, to_markdown

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "a\n# injected",
    "p|q",
    "`tick` and ``two``",
    "**bold** _it_ [link](http://x) ![i](http://x/i.png)",
    "@octo-org/team",
    "back\\slash $x^2$ &amp; ~~gone~~",
]


class Tags(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_hostile_column_names_stay_text_in_the_markdown_summary() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({name: rng.normal(0, 1, 500) for name in HOSTILE})
    cur = pd.DataFrame({name: rng.normal(1, 1, 500) for name in HOSTILE})
    suite = lw.Suite(
        "gate <b>x</b>\n# also injected",
        [lw.Check("drifted", eq(0), column=n) for n in HOSTILE] + [lw.Check("drift_share", le(0.1))],
    )
    result = suite.run(cur, ref)
    md = to_markdown(result)
    # CommonMark with raw HTML allowed (as GitHub reads it before its sanitiser) and GFM tables.
    html = MarkdownIt("commonmark").enable("table").render(md)
    page = Tags(html)
    assert "img" not in page.tags and "h1" not in page.tags and "a" not in page.tags
    assert not {"em", "s", "del", "b"} & set(page.tags) and page.tags.count("strong") == 1  # the verdict
    assert page.tags.count("h3") == 1 and page.tags.count("table") == 1
    # One row per check plus the header, five cells each: no pipe split a cell, no newline ended a row.
    assert len(page.rows) == len(result.results) + 1
    assert all(len(r) == 5 for r in page.rows)
    titles = [r[1] for r in page.rows[1:]]
    for name in HOSTILE:
        shown = name.replace("\n", "\\n")  # a newline is shown, not obeyed
        assert f"drifted[{shown}] == 0" in titles
    # The drifted columns line lists every drifted name as text too.
    drifted_line = next(x for x in md.splitlines() if x.startswith("Drifted columns"))
    rendered = MarkdownIt("commonmark").render(drifted_line)
    codes = [d for d in Tags(rendered).tags if d == "code"]
    # Each check that found drift names its columns, then itself: code spans, never markup.
    found = result.drift_found or []
    assert len(result.drifted_columns or []) == len(HOSTILE)
    assert (
        len(codes) == sum(len(columns) + 1 for _, columns in found) == 3 * len(HOSTILE) + 1
    )  # seven checks of one column, and drift_share of all
    assert "@octo-org" not in md  # no mention pings a team from a pull-request comment
