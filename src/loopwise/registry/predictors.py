"""Loaded versions kept per process: the champion ``predict`` serves (decision 0029) and the versions
``evaluate`` replays (decision 0044), keyed by (model, version, artifact digest).

A version's artifact is immutable (content-addressed), so the key says when a loaded one is still the
one stored; loading again under the same settings gives the same predictor. Loading a
HistGradientBoostingClassifier's skops file cost 0.4 s of a 1,000,000-event replay's own time (decision
0039); a second evaluation of the version in the same process (the server's jobs, a client's runs) now
finds it loaded. One cache per application or local client: an app per database keeps its versions apart.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy.orm import Session

from loopwise.registry.artifacts import ArtifactStore
from loopwise.registry.flavors import Predictor
from loopwise.registry.settings import RegistrySettings
from loopwise.registry.versions import describe, load_version

#: Loaded versions kept per process (a champion, a shadow, a challenger and the ones they replaced).
CACHED_VERSIONS = 8


class PredictorCache:
    """Loaded versions by (model, version, artifact digest); thread-safe, least recently used out first."""

    def __init__(self, size: int = CACHED_VERSIONS) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str, str | None], Predictor] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, s: Session, settings: RegistrySettings, store: ArtifactStore, model_name: str, version: str
    ) -> Predictor:
        key = (model_name, version, describe(s, model_name, version).sha256)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        loaded = load_version(s, settings, store, model_name, version)
        with self._lock:
            self._items[key] = loaded
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return loaded
