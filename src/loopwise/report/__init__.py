"""Reports: a Comparison as a stable JSON document, a self-contained HTML page, a notebook view."""

from loopwise.report.report import Report, compare

__all__ = ["Report", "compare"]
