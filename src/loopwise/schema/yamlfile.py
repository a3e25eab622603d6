"""Read a YAML document given as text or as a path to a .yaml file, with errors that say which."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from loopwise.errors import SchemaError


def load_yaml(text_or_path: str | Path, what: str) -> Any:
    """Parse YAML text, or the file it names (a Path, or one line ending .yaml / .yml)."""
    text = str(text_or_path)
    if isinstance(text_or_path, Path) or ("\n" not in text and text.endswith((".yaml", ".yml"))):
        path = Path(text_or_path)
        if not path.exists():
            raise SchemaError(f"no such {what} file: {path}")
        text = path.read_text(encoding="utf-8")
    return load_yaml_text(text, what)


def load_yaml_text(text: str, what: str) -> Any:
    """Parse YAML text, and only text: what a server is sent must never name a file it would read.

    Example:
        >>> load_yaml_text("suite: gate", "suite")
        {'suite': 'gate'}
        >>> load_yaml_text("/etc/secrets.yml", "suite")  # a string, not a file that was read
        '/etc/secrets.yml'
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The parser's message quotes the text it failed on; for a one-line document that is the document.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "a syntax error"
        raise SchemaError(f"the {what} is not valid YAML{where}: {problem}") from None
    except (ValueError, OverflowError) as exc:  # a date that does not exist (2026-02-30), say
        raise SchemaError(f"the {what} is not valid YAML: {exc} (a date that does not exist?)") from None
