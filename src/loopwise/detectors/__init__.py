"""Streaming change detectors, river-shaped: ``update(x)``, ``drift_detected``, ``change_point``, ``reset()``,
a vectorised ``update_many`` and a versioned state (``to_bytes`` / ``Detector.from_bytes``). Pure library:
no I/O. See docs/detectors.md."""

from loopwise.detectors.adwin import ADWIN
from loopwise.detectors.base import Detector, Sensitivity
from loopwise.detectors.bocpd import BOCPD
from loopwise.detectors.calibration import Calibration, calibrate
from loopwise.detectors.consensus import Consensus
from loopwise.detectors.cusum import CUSUM
from loopwise.detectors.ddm import DDM, EDDM
from loopwise.detectors.hddm import HDDM_A, HDDM_W
from loopwise.detectors.kswin import KSWIN
from loopwise.detectors.multistream import MultiStream
from loopwise.detectors.page_hinkley import PageHinkley

__all__ = [
    "ADWIN",
    "BOCPD",
    "CUSUM",
    "DDM",
    "EDDM",
    "HDDM_A",
    "HDDM_W",
    "KSWIN",
    "Calibration",
    "Consensus",
    "Detector",
    "MultiStream",
    "PageHinkley",
    "Sensitivity",
    "calibrate",
]
