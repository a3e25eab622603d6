"""The registry service: model versions with safe artifacts, lineage, and aliases with their history.

Decisions 0024 (versions, aliases, what served when), 0025 (artifacts and what is trusted) and 0026 (other
versions' outputs: replay on logged traffic, live shadow, the paired comparison).
"""

from loopwise.registry.aliases import AliasMove, alias_history, aliases, set_alias, version_at
from loopwise.registry.artifacts import ArtifactStore, StoredArtifact, sniff
from loopwise.registry.comparison import VersionComparison, compare_versions
from loopwise.registry.flavors import FLAVORS, Predictor
from loopwise.registry.lineage import Lineage
from loopwise.registry.replay import BatchTiming, Evaluation, evaluate, log_shadow
from loopwise.registry.served import served
from loopwise.registry.settings import RegistrySettings
from loopwise.registry.versions import (
    ModelVersion,
    describe,
    list_versions,
    load_version,
    reference_name,
    register_version,
)

__all__ = [
    "FLAVORS",
    "AliasMove",
    "ArtifactStore",
    "BatchTiming",
    "Evaluation",
    "Lineage",
    "ModelVersion",
    "Predictor",
    "RegistrySettings",
    "StoredArtifact",
    "VersionComparison",
    "alias_history",
    "aliases",
    "compare_versions",
    "describe",
    "evaluate",
    "list_versions",
    "load_version",
    "log_shadow",
    "reference_name",
    "register_version",
    "served",
    "set_alias",
    "sniff",
    "version_at",
]
