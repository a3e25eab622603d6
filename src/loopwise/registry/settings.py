"""What the operator decides about artifacts: where they live, how large they may be, what is trusted."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loopwise.errors import ParameterError
from loopwise.registry.artifacts import DEFAULT_MAX_BYTES


@functools.cache
def _memory_artifacts() -> Path:
    """One temporary directory per process for in-memory databases, removed at exit."""
    directory = Path(tempfile.mkdtemp(prefix="loopwise-artifacts-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


@dataclass(frozen=True)
class RegistrySettings:
    """The registry's settings (decision 0025); the defaults trust nothing that could run code on load.

    ``artifact_dir``: where artifacts are stored (default: ``<database>-artifacts`` beside a SQLite
    file, a temporary directory for an in-memory one, ``$LOOPWISE_HOME/artifacts`` for a database
    server). ``max_artifact_bytes``: the largest artifact accepted. ``trusted_types``: type names (as
    ``skops.io.get_untrusted_types`` lists them) an skops artifact may hold beyond the ones skops trusts
    itself. ``trust_pickle``: accept pickle and joblib artifacts, from an admin only.
    """

    artifact_dir: Path | None = None
    max_artifact_bytes: int = DEFAULT_MAX_BYTES
    trusted_types: tuple[str, ...] = ()
    trust_pickle: bool = False

    def __post_init__(self) -> None:
        if self.max_artifact_bytes <= 0:
            raise ParameterError("max_artifact_bytes", self.max_artifact_bytes, "a positive number of bytes")
        if isinstance(self.trusted_types, str) or not all(isinstance(t, str) for t in self.trusted_types):
            raise ParameterError("trusted_types", self.trusted_types, "a sequence of type names (strings)")

    @classmethod
    def from_env(cls) -> RegistrySettings:
        """From ``LOOPWISE_ARTIFACT_DIR``, ``LOOPWISE_MAX_ARTIFACT_BYTES``, ``LOOPWISE_TRUSTED_TYPES``
        (comma-separated) and ``LOOPWISE_TRUST_PICKLE`` (1/0), each optional."""
        directory = os.environ.get("LOOPWISE_ARTIFACT_DIR")
        size = os.environ.get("LOOPWISE_MAX_ARTIFACT_BYTES")
        types = os.environ.get("LOOPWISE_TRUSTED_TYPES", "")
        flag = os.environ.get("LOOPWISE_TRUST_PICKLE", "").lower()
        if flag not in ("", "0", "1", "true", "false", "yes", "no", "on", "off"):
            raise ParameterError("LOOPWISE_TRUST_PICKLE", flag, "1 or 0 (true/false, yes/no, on/off)")
        try:
            limit = int(size) if size else DEFAULT_MAX_BYTES
        except ValueError:
            raise ParameterError("LOOPWISE_MAX_ARTIFACT_BYTES", size, "a number of bytes") from None
        return cls(
            artifact_dir=Path(directory) if directory else None,
            max_artifact_bytes=limit,
            trusted_types=tuple(t.strip() for t in types.split(",") if t.strip()),
            trust_pickle=flag in ("1", "true", "yes", "on"),
        )

    def directory_for(self, database_url: str) -> Path:
        """The artifact directory for a database: the setting, else next to the database."""
        if self.artifact_dir is not None:
            return Path(self.artifact_dir)
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        database = url.database or ""
        if url.get_backend_name() == "sqlite":
            if database in ("", ":memory:") or "mode=memory" in database:
                # A database that vanishes with the process keeps its artifacts no longer either.
                return _memory_artifacts()
            if not database.startswith("file:"):
                path = Path(database)
                return path.with_name(f"{path.name}-artifacts")
        return Path(os.environ.get("LOOPWISE_HOME", ".")) / "artifacts"
