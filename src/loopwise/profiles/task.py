"""Task profiles: what is needed to measure a model's performance, mergeable like column profiles.

Classification keeps the confusion counts (labelled rows), the predictions of
every row, score histograms per class among positives and negatives (for ROC
and PR AUC within a stated bound), sums for log loss and Brier score, and
calibration counts per predicted class and confidence bin (for the expected
calibration error and for estimating performance before labels arrive).
Regression keeps error moments, an error quantile sketch and the target's
moments (for R²).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import datasketches as ds
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import DataError
from loopwise.profiles.canonical import canonical
from loopwise.profiles.compact import WIDTH_DTYPES, as_width, narrow, widen
from loopwise.profiles.moments import Moments

#: Equal-width bins on [0, 1] for score histograms (ROC / PR AUC).
SCORE_BINS = 4096
#: Equal-width confidence bins on [0, 1] for calibration (ECE) and label-free estimation.
CAL_BINS = 20
#: Equal-width bins on [0, 1] of each class's score for label-free estimation (per predicted class): fine
#: enough that a bin holds at most one of the two-decimal scores models often emit (1/256 < 1/100) and that
#: binning continuous scores costs little (docs/decisions/0013), coarse enough that a bucket profile stays
#: small (three histograms of 256 counts per predicted class and scored class: +7% for a binary model).
EST_BINS = 256
#: Probabilities are clipped to [EPS, 1 - EPS] for log loss, as scikit-learn does (float64 epsilon).
LOG_EPS = float(np.finfo(np.float64).eps)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def encode_labels(arr: Any) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Integer codes of canonical labels, the labels, and a mask of missing values."""
    if isinstance(arr, np.ndarray) and arr.ndim == 1 and (arr.dtype.kind in "biu" or arr.dtype in _FLOATS):
        # Booleans and numbers straight to Arrow (NaN as null, as from the list): the list of a million
        # Python values cost 0.03 s a call, and a gate's paired tests make nine.
        arr = pa.array(arr, from_pandas=True)
    elif not isinstance(arr, (pa.Array, pa.ChunkedArray)):
        arr = pa.array(
            np.asarray(arr).tolist() if isinstance(arr, np.ndarray) else list(arr), from_pandas=True
        )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_null(arr.type):  # a column with no value at all: every label is missing
        return np.full(len(arr), -1, dtype=np.int64), [], np.ones(len(arr), dtype=bool)
    if pa.types.is_floating(arr.type):
        arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, arr.type), arr)
    enc = pc.dictionary_encode(arr)
    missing = enc.indices.is_null().to_numpy(zero_copy_only=False)
    raw = [canonical(v) for v in enc.dictionary.to_pylist()]
    labels = sorted(set(raw))
    remap = np.array([labels.index(r) for r in raw] + [-1], dtype=np.int64)
    idx = enc.indices.fill_null(len(raw)).to_numpy(zero_copy_only=False)
    return remap[idx], labels, missing


#: The other class of a binary problem whose labels are booleans or 0/1, known even when unseen.
_COMPLEMENT = {"true": "false", "false": "true", "1": "0", "0": "1"}


def _with_label(
    labels: list[str], tc: np.ndarray, pc_: np.ndarray, label: str
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``labels`` with one more (kept sorted), and the codes into them moved to match."""
    wider = sorted([*labels, label])
    remap = np.array([wider.index(x) for x in labels] or [0], dtype=np.int64)
    return wider, np.where(tc >= 0, remap[np.maximum(tc, 0)], -1), remap[pc_] if pc_.size else pc_


def _hist(values: np.ndarray, bins: int) -> np.ndarray:
    idx = np.minimum((values * bins).astype(np.int64), bins - 1)
    return np.bincount(idx, minlength=bins).astype(np.int64)


def est_key(predicted: str, scored: str) -> str:
    """The key of a (predicted class, scored class) estimation histogram: JSON, so any label round-trips."""
    return json.dumps([predicted, scored], ensure_ascii=False)


def _dict_add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in a.items()}
    for k, v in b.items():
        out[k] = out[k] + v if k in out else (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
    return out


@dataclass
class ClassificationProfile:
    """Mergeable performance summary of a classifier (binary or multiclass, any label type)."""

    n: int = 0
    n_labeled: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    predicted: dict[str, int] = field(default_factory=dict)
    pos_hist: dict[str, np.ndarray] = field(default_factory=dict)
    neg_hist: dict[str, np.ndarray] = field(default_factory=dict)
    n_scored: int = 0
    log_loss_sum: float = 0.0
    log_loss_sumsq: float = 0.0
    brier_sum: float = 0.0
    brier_sumsq: float = 0.0
    #: Per predicted class, per confidence bin: all rows, labelled rows, correct labelled rows, and
    #: the labelled rows' summed confidence.
    conf_all: dict[str, np.ndarray] = field(default_factory=dict)
    conf_labeled: dict[str, np.ndarray] = field(default_factory=dict)
    conf_correct: dict[str, np.ndarray] = field(default_factory=dict)
    conf_sum: dict[str, np.ndarray] = field(default_factory=dict)
    #: Per (predicted class k, scored class j), keyed ``est_key(k, j)``, over EST_BINS bins of class j's
    #: score: all rows, labelled rows, and labelled rows whose true class is j (label-free estimation).
    #:
    #: The histograms of labelled rows (``pos_hist``, ``neg_hist``, ``est_labeled``, ``est_hit``) have a key
    #: only where labelled rows were counted (any, for the score histograms; of class k, for estimation):
    #: a backfill's predictions come before their labels, and their zeros were 0.7 MB of each hourly
    #: bucket's 1.2 MB to write, compress and read (decision 0021). A missing key reads as zeros; a key's
    #: presence depends only on the rows, so a merge has the keys of the rows' own profile. Profiles
    #: written before, with zeros, still read and merge.
    est_all: dict[str, np.ndarray] = field(default_factory=dict)
    est_labeled: dict[str, np.ndarray] = field(default_factory=dict)
    est_hit: dict[str, np.ndarray] = field(default_factory=dict)
    #: Bytes per count (1, 2, 4 or 8) that hold every integer count of the arrays above, when the profile's
    #: maker knew it without a reduction (``grouped_tasks``: a cell's counts are at most its rows); None once
    #: updated in place, and for a merge. Format 3 stores the counts in it (else int64 but the score
    #: histograms): a backfilled bucket's estimation bins were 40 KB of int64 to compress (decision 0043).
    count_width: int | None = field(default=None, compare=False, repr=False)

    task = "classification"

    def update(self, y_true: Any, y_pred: Any, scores: dict[str, Any] | None = None) -> None:
        """Add rows: labels (None where not yet known), predictions, and class scores by class label.

        ``scores`` maps a class label to its probability column; with one class in a
        binary problem the other's probability is one minus it.
        """
        pred_codes, pred_labels, pred_missing = encode_labels(y_pred)
        if pred_missing.any():
            raise DataError(
                f"predictions are missing in {int(pred_missing.sum())} row(s), "
                f"first row {int(np.flatnonzero(pred_missing)[0])}"
            )
        n = pred_codes.size
        true_codes, true_labels, true_missing = encode_labels(y_true)
        if true_codes.size != n:
            raise DataError(f"{true_codes.size} labels for {n} predictions; they must be the same rows")
        labels = sorted(set(pred_labels) | set(true_labels))
        pmap = np.array([labels.index(x) for x in pred_labels], dtype=np.int64)
        tmap = np.array([labels.index(x) for x in true_labels] + [-1], dtype=np.int64)
        pc_ = pmap[pred_codes]
        tc = np.where(true_missing, -1, tmap[np.where(true_missing, len(true_labels), true_codes)])
        self.add_codes(labels, tc, pc_, scores)

    def add_codes(
        self, labels: list[str], tc: np.ndarray, pc_: np.ndarray, scores: Mapping[Any, Any] | None = None
    ) -> None:
        """Add rows already encoded: ``labels`` (sorted canonical labels, every one among the rows' labels or
        predictions), true label and prediction codes into them (-1: no label yet), scores as for ``update``.
        (Profiles of many groups of one batch encode the batch once and add each group's codes.)"""
        n = pc_.size
        k = len(labels)
        self.count_width = None  # counts added: no longer known to fit
        self.n += n
        for i, c in enumerate(np.bincount(pc_, minlength=k)):
            if c:
                self.predicted[labels[i]] = self.predicted.get(labels[i], 0) + int(c)
        lab = tc >= 0
        self.n_labeled += int(lab.sum())
        cm = np.bincount(tc[lab] * k + pc_[lab], minlength=k * k).reshape(k, k)
        for i, j in zip(*np.nonzero(cm), strict=True):
            row = self.confusion.setdefault(labels[i], {})
            row[labels[j]] = row.get(labels[j], 0) + int(cm[i, j])
        if scores:
            self._update_scores(labels, tc, pc_, scores, n)

    def _update_scores(
        self, labels: list[str], tc: np.ndarray, pc_: np.ndarray, scores: Mapping[Any, Any], n: int
    ) -> None:
        cols: dict[str | None, np.ndarray] = {}
        for label, col in scores.items():
            v = np.asarray(
                col.to_numpy(zero_copy_only=False)
                if hasattr(col, "to_numpy") and isinstance(col, (pa.Array, pa.ChunkedArray))
                else col,
                dtype=np.float64,
            )
            if v.size != n:
                raise DataError(f"score column for class {label!r} has {v.size} rows, predictions {n}")
            bad = ~np.isfinite(v) | (v < 0) | (v > 1)
            if bad.any():
                first = int(np.flatnonzero(bad)[0])
                raise DataError(
                    f"score for class {label!r} must be a probability in [0, 1]; "
                    f"row {first} holds {float(v[first])!r} ({int(bad.sum())} such rows)"
                )
            cols[canonical(label) if label is not None else None] = v
        if None in cols:
            # One score column without a class: the probability of the positive class.
            if len(cols) > 1:
                raise DataError("only a single score column may leave out its class label")
            positive = (
                "true" if set(labels) <= {"false", "true"} else "1" if set(labels) <= {"0", "1"} else None
            )
            if positive is None:
                raise DataError(
                    f"the score column needs 'label:' in the schema, naming the class it is the "
                    f"probability of (labels seen: {', '.join(labels[:10])})"
                )
            cols[positive] = cols.pop(None)
        named: dict[str, np.ndarray] = {str(k): v for k, v in cols.items()}
        if len(named) == 1 and len(labels) <= 2:
            ((positive_label, p_positive),) = named.items()
            pair = (positive_label, _COMPLEMENT.get(positive_label, positive_label))
            if positive_label in _COMPLEMENT and set(labels) <= set(pair):
                # Rows of one class (a quiet hour's bucket) still score both: without the class they lack,
                # their Brier score lost its half, and a window of such buckets differed from its rows
                # profiled at once (tests/server/test_backfill.py found it).
                for label in pair:
                    if label not in labels:
                        labels, tc, pc_ = _with_label(labels, tc, pc_, label)
            others = [x for x in labels if x != positive_label]
            if others:
                named[others[0]] = 1.0 - p_positive
        elif len(named) >= 2:
            total = np.sum(np.vstack(list(named.values())), axis=0)
            off = np.abs(total - 1.0) > 1e-6
            if off.any():
                first = int(np.flatnonzero(off)[0])
                raise DataError(
                    f"class scores must sum to 1; row {first} sums to {total[first]:.6g} "
                    f"({int(off.sum())} such rows)"
                )
        label_index = {x: i for i, x in enumerate(labels)}
        lab = tc >= 0
        # Labelled rows' histograms have keys where labelled rows are (see ``ClassificationProfile``).
        for label, p in named.items() if lab.any() else ():
            i = label_index.get(label)
            pos = lab & (tc == i) if i is not None else np.zeros(n, dtype=bool)
            neg = lab & ~pos
            self.pos_hist[label] = self.pos_hist.get(label, np.zeros(SCORE_BINS, np.int64)) + _hist(
                p[pos], SCORE_BINS
            )
            self.neg_hist[label] = self.neg_hist.get(label, np.zeros(SCORE_BINS, np.int64)) + _hist(
                p[neg], SCORE_BINS
            )
        # Probability of the true class, and of the predicted class (its confidence).
        mat = np.vstack([named.get(x, np.zeros(n)) for x in labels]) if labels else np.zeros((0, n))
        conf = mat[pc_, np.arange(n)]
        if lab.any():
            p_true = np.clip(mat[tc[lab], np.flatnonzero(lab)], LOG_EPS, 1 - LOG_EPS)
            ll = -np.log(p_true)
            onehot = np.zeros((len(labels), int(lab.sum())))
            onehot[tc[lab], np.arange(int(lab.sum()))] = 1.0
            br = np.sum((mat[:, lab] - onehot) ** 2, axis=0)
            if len(labels) <= 2:
                br = br / 2  # binary Brier is (p - y)^2 of the positive class alone
            self.n_scored += int(lab.sum())
            self.log_loss_sum += float(ll.sum())
            self.log_loss_sumsq += float(np.dot(ll, ll))
            self.brier_sum += float(br.sum())
            self.brier_sumsq += float(np.dot(br, br))
        bins = np.minimum((conf * CAL_BINS).astype(np.int64), CAL_BINS - 1)
        correct = lab & (tc == pc_)
        for i, label in enumerate(labels):
            rows = pc_ == i
            if not rows.any():
                continue
            zero = np.zeros(CAL_BINS, np.int64)
            self.conf_all[label] = self.conf_all.get(label, zero) + np.bincount(
                bins[rows], minlength=CAL_BINS
            )
            lr = rows & lab
            self.conf_labeled[label] = self.conf_labeled.get(label, zero) + np.bincount(
                bins[lr], minlength=CAL_BINS
            )
            self.conf_correct[label] = self.conf_correct.get(label, zero) + np.bincount(
                bins[rows & correct], minlength=CAL_BINS
            )
            self.conf_sum[label] = self.conf_sum.get(label, np.zeros(CAL_BINS)) + np.bincount(
                bins[lr], weights=conf[lr], minlength=CAL_BINS
            )
        self._update_estimation(labels, tc, pc_, named)

    def _update_estimation(
        self, labels: list[str], tc: np.ndarray, pc_: np.ndarray, named: dict[str, np.ndarray]
    ) -> None:
        k, b = len(labels), EST_BINS
        lab = tc >= 0
        # Every scored class, seen in this batch or not: a batch of one class still scores the others.
        for scored in named:
            j = labels.index(scored) if scored in labels else -1
            cell = pc_ * b + np.minimum((named[scored] * b).astype(np.int64), b - 1)
            rows = np.bincount(cell, minlength=k * b).reshape(k, b)
            labelled = np.bincount(cell[lab], minlength=k * b).reshape(k, b)
            hit = np.bincount(cell[lab & (tc == j)], minlength=k * b).reshape(k, b)
            with_labels = labelled.sum(axis=1) > 0
            for i in np.flatnonzero(rows.sum(axis=1)):
                key = est_key(labels[i], scored)
                self.est_all[key] = self.est_all.get(key, np.zeros(b, np.int64)) + rows[i]
                if with_labels[i]:  # see ``ClassificationProfile``: where labelled rows are
                    self.est_labeled[key] = self.est_labeled.get(key, np.zeros(b, np.int64)) + labelled[i]
                    self.est_hit[key] = self.est_hit.get(key, np.zeros(b, np.int64)) + hit[i]

    def merge(self, other: ClassificationProfile) -> ClassificationProfile:
        confusion: dict[str, dict[str, int]] = {t: dict(r) for t, r in self.confusion.items()}
        for t, row in other.confusion.items():
            mine = confusion.setdefault(t, {})
            for p, c in row.items():
                mine[p] = mine.get(p, 0) + c
        return ClassificationProfile(
            n=self.n + other.n,
            n_labeled=self.n_labeled + other.n_labeled,
            confusion=confusion,
            predicted=_dict_add(self.predicted, other.predicted),
            pos_hist=_dict_add(self.pos_hist, other.pos_hist),
            neg_hist=_dict_add(self.neg_hist, other.neg_hist),
            n_scored=self.n_scored + other.n_scored,
            log_loss_sum=self.log_loss_sum + other.log_loss_sum,
            log_loss_sumsq=self.log_loss_sumsq + other.log_loss_sumsq,
            brier_sum=self.brier_sum + other.brier_sum,
            brier_sumsq=self.brier_sumsq + other.brier_sumsq,
            conf_all=_dict_add(self.conf_all, other.conf_all),
            conf_labeled=_dict_add(self.conf_labeled, other.conf_labeled),
            conf_correct=_dict_add(self.conf_correct, other.conf_correct),
            conf_sum=_dict_add(self.conf_sum, other.conf_sum),
            est_all=_dict_add(self.est_all, other.est_all),
            est_labeled=_dict_add(self.est_labeled, other.est_labeled),
            est_hit=_dict_add(self.est_hit, other.est_hit),
        )

    def label_part(self) -> ClassificationProfile:
        """What labelling these rows adds to a profile that already holds them without labels: every count
        and sum over labelled rows, and none over all rows (their number, predictions, confidence and
        estimation bins), which were counted when the rows came. A first label is then a merge, not a
        rebuild of the bucket from all its events (decision 0021, "First labels")."""
        return replace(self, n=0, predicted={}, conf_all={}, est_all={})

    # -- reading ------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        found = set(self.predicted) | set(self.confusion)
        for row in self.confusion.values():
            found |= set(row)
        return sorted(found)

    def matrix(self) -> tuple[list[str], np.ndarray]:
        """Labels and the confusion matrix (rows: true, columns: predicted)."""
        labels = self.labels
        m = np.zeros((len(labels), len(labels)), dtype=np.int64)
        for i, t in enumerate(labels):
            for j, p in enumerate(labels):
                m[i, j] = self.confusion.get(t, {}).get(p, 0)
        return labels, m

    @property
    def label_coverage(self) -> float | None:
        return self.n_labeled / self.n if self.n else None

    # -- serialization ------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], list[bytes]]:
        arrays = {
            "pos_hist": self.pos_hist,
            "neg_hist": self.neg_hist,
            "conf_all": self.conf_all,
            "conf_labeled": self.conf_labeled,
            "conf_correct": self.conf_correct,
            "conf_sum": self.conf_sum,
            "est_all": self.est_all,
            "est_labeled": self.est_labeled,
            "est_hit": self.est_hit,
        }
        keys = {name: sorted(d) for name, d in arrays.items()}
        # Counts as integers (format 3: ``meta["widths"]``, bytes per count for each array name), the score
        # histograms (4,096 counts each) in the narrowest width that holds them; ``conf_sum`` (sums of
        # confidences), and every array of formats 1 and 2, as float64.
        widths: dict[str, int] = {}
        blobs: list[bytes] = []
        known = self.count_width
        for name, d in arrays.items():
            names = keys[name]
            if not names:
                continue
            if name == "conf_sum":
                blobs.extend(np.asarray(d[k], dtype="<f8").tobytes() for k in names)
            elif known is not None:
                widths[name] = known
                dtype = WIDTH_DTYPES[
                    known
                ]  # ``as_width``, without a call a key (a backfill's 220 cells a batch)
                blobs.extend([d[k].astype(dtype, copy=False).tobytes() for k in names])
            elif name in _NARROW:
                packed = [narrow(d[k]) for k in names]
                width = widths[name] = max(w for w, _ in packed)
                blobs.extend(
                    b if w == width else as_width(d[k], width)
                    for k, (w, b) in zip(names, packed, strict=True)
                )
            else:
                widths[name] = 8
                blobs.extend(as_width(d[k], 8) for k in names)
        meta: dict[str, Any] = {
            "n": self.n,
            "n_labeled": self.n_labeled,
            "confusion": self.confusion,
            "predicted": self.predicted,
            "n_scored": self.n_scored,
            "log_loss": [self.log_loss_sum, self.log_loss_sumsq],
            "brier": [self.brier_sum, self.brier_sumsq],
            "arrays": keys,
            "widths": widths,
        }
        return meta, blobs

    @classmethod
    def from_state(cls, meta: dict[str, Any], blobs: list[bytes]) -> ClassificationProfile:
        out = cls(
            n=int(meta["n"]),
            n_labeled=int(meta["n_labeled"]),
            confusion={t: {p: int(c) for p, c in r.items()} for t, r in meta["confusion"].items()},
            predicted={k: int(v) for k, v in meta["predicted"].items()},
            n_scored=int(meta["n_scored"]),
            log_loss_sum=float(meta["log_loss"][0]),
            log_loss_sumsq=float(meta["log_loss"][1]),
            brier_sum=float(meta["brier"][0]),
            brier_sumsq=float(meta["brier"][1]),
        )
        widths = meta.get("widths", {})  # formats 1 and 2: every array float64
        i = 0
        for name, keys in meta["arrays"].items():
            target: dict[str, np.ndarray] = getattr(out, name)
            width = widths.get(name)
            for k in keys:
                if width is not None:
                    target[k] = widen(blobs[i], int(width))
                else:
                    arr = np.frombuffer(blobs[i], dtype="<f8")
                    target[k] = arr.copy() if name == "conf_sum" else arr.astype(np.int64)
                i += 1
        return out


#: The arrays format 3 stores narrow: the score histograms, 4,096 counts per class among labelled rows.
_NARROW = frozenset({"pos_hist", "neg_hist"})


def grouped_classification(
    y_true: Any, y_pred: Any, group_codes: np.ndarray, group_keys: list[str]
) -> dict[str, ClassificationProfile]:
    """Confusion and prediction counts per group in one pass (no scores): what fairness needs."""
    pred_codes, pred_labels, pred_missing = encode_labels(y_pred)
    if pred_missing.any():
        raise DataError(f"predictions are missing in {int(pred_missing.sum())} row(s)")
    true_codes, true_labels, true_missing = encode_labels(y_true)
    labels = sorted(set(pred_labels) | set(true_labels))
    k, g = len(labels), len(group_keys)
    pc_ = np.array([labels.index(x) for x in pred_labels], dtype=np.int64)[pred_codes]
    tmap = np.array([labels.index(x) for x in true_labels] + [-1], dtype=np.int64)
    tc = np.where(true_missing, -1, tmap[np.where(true_missing, len(true_labels), true_codes)])
    lab = tc >= 0
    cm = np.bincount((group_codes[lab] * k + tc[lab]) * k + pc_[lab], minlength=g * k * k).reshape(g, k, k)
    predicted = np.bincount(group_codes * k + pc_, minlength=g * k).reshape(g, k)
    n = np.bincount(group_codes, minlength=g)
    n_lab = np.bincount(group_codes[lab], minlength=g)
    out = {}
    for i, key in enumerate(group_keys):
        confusion: dict[str, dict[str, int]] = {}
        for t, p in zip(*np.nonzero(cm[i]), strict=True):
            confusion.setdefault(labels[t], {})[labels[p]] = int(cm[i, t, p])
        out[key] = ClassificationProfile(
            n=int(n[i]),
            n_labeled=int(n_lab[i]),
            confusion=confusion,
            predicted={labels[j]: int(c) for j, c in enumerate(predicted[i]) if c},
        )
    return out


@dataclass
class RegressionProfile:
    """Mergeable performance summary of a regressor: errors (prediction minus target) and the target."""

    n: int = 0
    n_labeled: int = 0
    error: Moments = field(default_factory=Moments)
    abs_error: Moments = field(default_factory=Moments)
    sq_error: Moments = field(default_factory=Moments)
    ape: Moments = field(default_factory=Moments)
    target: Moments = field(default_factory=Moments)
    error_sketch: Any = None

    task = "regression"

    def __post_init__(self) -> None:
        if self.error_sketch is None:
            self.error_sketch = ds.kll_doubles_sketch(200)

    def update(self, y_true: Any, y_pred: Any, scores: dict[str, Any] | None = None) -> None:
        t = np.asarray(
            pa.array(y_true, from_pandas=True).to_numpy(zero_copy_only=False)
            if not isinstance(y_true, np.ndarray)
            else y_true,
            dtype=np.float64,
        )
        p = np.asarray(
            y_pred
            if isinstance(y_pred, np.ndarray)
            else pa.array(y_pred, from_pandas=True).to_numpy(zero_copy_only=False),
            dtype=np.float64,
        )
        if t.size != p.size:
            raise DataError(f"{t.size} targets for {p.size} predictions; they must be the same rows")
        bad = ~np.isfinite(p)
        if bad.any():
            raise DataError(
                f"predictions must be finite numbers; row {int(np.flatnonzero(bad)[0])} "
                f"holds {float(p[bad][0])!r} ({int(bad.sum())} such rows)"
            )
        self.n += p.size
        lab = np.isfinite(t)
        self.n_labeled += int(lab.sum())
        e = p[lab] - t[lab]
        self.error = self.error.merge(Moments.of(e))
        self.abs_error = self.abs_error.merge(Moments.of(np.abs(e)))
        self.sq_error = self.sq_error.merge(Moments.of(e * e))
        nz = t[lab] != 0
        self.ape = self.ape.merge(Moments.of(np.abs(e[nz] / t[lab][nz])))
        self.target = self.target.merge(Moments.of(t[lab]))
        if e.size:
            self.error_sketch.update(np.ascontiguousarray(e))

    def label_part(self) -> RegressionProfile:
        """What labelling these rows adds to a profile that already holds them without labels: everything
        but the row count (an unlabelled row adds only to ``n``). A first label is then a merge, as a
        classifier's is (decision 0037); the error sketch is the merge of two sketches, within its bound."""
        return replace(self, n=0)

    def merge(self, other: RegressionProfile) -> RegressionProfile:
        sk = ds.kll_doubles_sketch(200)
        sk.merge(self.error_sketch)
        sk.merge(other.error_sketch)
        return RegressionProfile(
            self.n + other.n,
            self.n_labeled + other.n_labeled,
            self.error.merge(other.error),
            self.abs_error.merge(other.abs_error),
            self.sq_error.merge(other.sq_error),
            self.ape.merge(other.ape),
            self.target.merge(other.target),
            sk,
        )

    @property
    def label_coverage(self) -> float | None:
        return self.n_labeled / self.n if self.n else None

    def to_state(self) -> tuple[dict[str, Any], list[bytes]]:
        meta = {
            "n": self.n,
            "n_labeled": self.n_labeled,
            **{k: getattr(self, k).state() for k in ("error", "abs_error", "sq_error", "ape", "target")},
        }
        return meta, [bytes(self.error_sketch.serialize())]

    @classmethod
    def from_state(cls, meta: dict[str, Any], blobs: list[bytes]) -> RegressionProfile:
        m = {k: Moments.from_dict(meta[k]) for k in ("error", "abs_error", "sq_error", "ape", "target")}
        return cls(
            n=int(meta["n"]),
            n_labeled=int(meta["n_labeled"]),
            error=m["error"],
            abs_error=m["abs_error"],
            sq_error=m["sq_error"],
            ape=m["ape"],
            target=m["target"],
            error_sketch=ds.kll_doubles_sketch.deserialize(blobs[0]),
        )


TaskProfile = ClassificationProfile | RegressionProfile
