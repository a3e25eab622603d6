"""The registry service: model versions with safe artifacts, lineage, and aliases with their history.

Decisions 0024 (versions, aliases, what served when), 0025 (artifacts and what is trusted), 0026 (other
versions' outputs: replay on logged traffic, live shadow, the paired comparison), 0027 (the gate,
promotion, rollback, history) and 0028 (the audit chain).
"""

from loopwise.registry.aliases import AliasMove, alias_history, aliases, set_alias, version_at
from loopwise.registry.artifacts import ArtifactStore, StoredArtifact, sniff
from loopwise.registry.audit import Verification, verify
from loopwise.registry.comparison import VersionComparison, compare_versions, pair
from loopwise.registry.flavors import FLAVORS, Predictor
from loopwise.registry.gate import GateResult, gate_result, gate_results, run_gate
from loopwise.registry.history import History, history_at
from loopwise.registry.lineage import Lineage
from loopwise.registry.promotion import (
    PromotionRequest,
    approve,
    force,
    policy,
    promote,
    promotion,
    promotions,
    rollback,
    set_policy,
)
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
    "GateResult",
    "History",
    "Lineage",
    "ModelVersion",
    "Predictor",
    "PromotionRequest",
    "RegistrySettings",
    "StoredArtifact",
    "Verification",
    "VersionComparison",
    "alias_history",
    "aliases",
    "approve",
    "compare_versions",
    "describe",
    "evaluate",
    "force",
    "gate_result",
    "gate_results",
    "history_at",
    "list_versions",
    "load_version",
    "log_shadow",
    "pair",
    "policy",
    "promote",
    "promotion",
    "promotions",
    "reference_name",
    "register_version",
    "rollback",
    "run_gate",
    "served",
    "set_alias",
    "set_policy",
    "sniff",
    "verify",
    "version_at",
]
