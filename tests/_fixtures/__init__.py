"""What tests in any folder share: a throwaway PostgreSQL, a real server on loopback, generated data, the CLI
in a fresh process, and waiting for a condition. tests/conftest.py (the one conftest) registers the fixtures;
tests import the helpers from here."""

from tests._fixtures.data import mixed_frame, run_cli
from tests._fixtures.servers import Cluster, Running, free_port
from tests._fixtures.streams import bernoulli, loop_detections, old_bocpd_state, piecewise, same_parameters
from tests._fixtures.waits import wait_for

__all__ = [
    "Cluster",
    "Running",
    "bernoulli",
    "free_port",
    "loop_detections",
    "mixed_frame",
    "old_bocpd_state",
    "piecewise",
    "run_cli",
    "same_parameters",
    "wait_for",
]
