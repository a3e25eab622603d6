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
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaError(f"the {what} is not valid YAML: {exc}") from None
