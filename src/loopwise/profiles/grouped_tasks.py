"""The task profiles of many cells of one batch at once (``profiles.grouped``: a backfill's buckets and their
segments), each as ``update`` with the cell's rows alone would make it.

A classifier's labels and predictions are encoded once for the batch. A binary classifier with one score
column (booleans or 0/1, the usual case) also computes once per batch what ``_update_scores`` computed per
cell: each row's confidence, its bins, its log loss and Brier terms; a cell then only counts its slice of
them. ``_update_scores`` cost about 0.45 ms per cell whatever its rows, most of a backfilled bucket's task
(decision 0021). Every array is the same to the bit as the cell's own ``update`` gives (the same values
added in the same order), the float sums too (each cell's slice summed as ``update`` sums it). Other
classifiers (several score columns, labels of other names, bad scores) add each cell's codes with
``ClassificationProfile.add_codes``, which decides per cell as ``update`` does; regressors update per cell.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import orjson
import pyarrow as pa

from loopwise.errors import DataError
from loopwise.profiles.canonical import canonical
from loopwise.profiles.compact import WIDTH_DTYPES, width_of
from loopwise.profiles.profile import update_task
from loopwise.profiles.task import (
    _COMPLEMENT,
    CAL_BINS,
    EST_BINS,
    LOG_EPS,
    SCORE_BINS,
    ClassificationProfile,
    TaskProfile,
    encode_labels,
    est_key,
)
from loopwise.schema import Role, Schema


def update_tasks(
    schema: Schema, table: pa.Table, rows: np.ndarray, starts: np.ndarray, tasks: Mapping[int, TaskProfile]
) -> None:
    """Update each cell's task profile with its rows: cell ``i``'s are ``rows[starts[i]:starts[i + 1]]`` (in
    row order), ``table`` holds the task's columns (prediction, target, scores)."""
    first = next(iter(tasks.values()))
    if not isinstance(first, ClassificationProfile):
        for i, task in tasks.items():
            update_task(task, schema, table.take(pa.array(rows[starts[i] : starts[i + 1]])))
        return
    every, gp, gt, scores = _encoded(schema, table)
    binary = _Binary.of(every, gp, gt, scores)
    if binary is not None and not binary.lab.any():  # predictions before their labels: a backfill's
        binary.add_unlabelled(tasks, rows, starts)
        return
    if binary is not None:
        for i, task in tasks.items():
            assert isinstance(task, ClassificationProfile)
            binary.add(task, rows[starts[i] : starts[i + 1]])
        return
    local = np.full(len(every) + 1, -1, dtype=np.int64)  # the last stays -1: where a label is missing
    for i, task in tasks.items():
        assert isinstance(task, ClassificationProfile)
        cell = rows[starts[i] : starts[i + 1]]
        p, t = gp[cell], gt[cell]
        present = np.flatnonzero(np.bincount(np.concatenate((p, t[t >= 0])), minlength=len(every)))
        local[present] = np.arange(present.size)
        task.add_codes(
            [every[j] for j in present.tolist()],
            local[t],
            local[p],
            {label: v[cell] for label, v in scores.items()} or None,
        )
        local[present] = -1


def unlabelled_tasks(
    schema: Schema, table: pa.Table, rows: np.ndarray, starts: np.ndarray, cells: list[int]
) -> Unlabelled | None:
    """A binary classifier's task counts of each of ``cells`` (as ``update_tasks`` of new profiles), when
    no row holds a label (a backfill's predictions): found for all cells at once, each cell's profile made
    when asked for and its stored form written without one (decision 0054); else None."""
    if not cells:
        return None
    target = schema.by_role(Role.TARGET)[0].name
    if target in table.column_names and table.column(target).null_count < table.num_rows:
        return None  # labels (their batches' rows: ``update_tasks``), without encoding the batch twice
    every, gp, gt, scores = _encoded(schema, table)
    binary = _Binary.of(every, gp, gt, scores)
    if binary is None or binary.lab.any():
        return None
    return Unlabelled(binary, rows, starts, cells)


def _encoded(
    schema: Schema, table: pa.Table
) -> tuple[list[str], np.ndarray, np.ndarray, dict[str | None, np.ndarray]]:
    """A classifier's labels (every one, sorted), each row's predicted and true label as an index into them
    (-1: no label), and the score columns by the class they score."""
    pred = schema.by_role(Role.PREDICTION)[0].name
    target = schema.by_role(Role.TARGET)[0].name
    y_true = table.column(target) if target in table.column_names else pa.nulls(table.num_rows)
    pred_codes, pred_labels, pred_missing = encode_labels(table.column(pred))
    if pred_missing.any():
        raise DataError(
            f"predictions are missing in {int(pred_missing.sum())} row(s), "
            f"first row {int(np.flatnonzero(pred_missing)[0])}"
        )
    true_codes, true_labels, true_missing = encode_labels(y_true)
    every = sorted(set(pred_labels) | set(true_labels))
    pmap = np.array([every.index(x) for x in pred_labels], dtype=np.int64)
    tmap = np.array([every.index(x) for x in true_labels] + [-1], dtype=np.int64)
    gp = pmap[pred_codes]
    gt = np.where(true_missing, -1, tmap[np.where(true_missing, len(true_labels), true_codes)])
    scores: dict[str | None, np.ndarray] = {
        label: np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
        for name, label in schema.score_classes().items()
    }
    return every, gp, gt, scores


class _Binary:
    """Per row of a batch, what ``ClassificationProfile._update_scores`` derives from a binary classifier's
    one score column; ``add`` gives a cell its rows' share, as ``update`` of those rows alone would."""

    def __init__(self, pair: list[str], named: list[str], p: np.ndarray, tc: np.ndarray, pc: np.ndarray):
        self.labels = pair  # both classes, sorted: every cell scores both (``task._COMPLEMENT``)
        self.named = named  # the scored classes in the order ``_update_scores`` adds them: positive first
        self.tc, self.pc = tc, pc
        self.lab = tc >= 0
        n = p.size
        by_label = {named[0]: p, named[1]: 1.0 - p}
        mat = np.vstack([by_label[x] for x in pair])
        self.conf = mat[pc, np.arange(n)]
        self.cal_bin = _bins(self.conf, CAL_BINS)
        self.correct = self.lab & (tc == pc)
        true = np.maximum(tc, 0)  # rows without a label get values they never add
        self.log_loss = -np.log(np.clip(mat[true, np.arange(n)], LOG_EPS, 1 - LOG_EPS))
        onehot = np.zeros((2, n))
        onehot[true, np.arange(n)] = 1.0
        self.brier = np.sum((mat - onehot) ** 2, axis=0) / 2  # binary Brier: (p - y)^2 of one class
        self.score_bin = {
            x: np.minimum((v * SCORE_BINS).astype(np.int64), SCORE_BINS - 1) for x, v in by_label.items()
        }
        self.est_bin = {
            x: np.minimum((v * EST_BINS).astype(np.int64), EST_BINS - 1) for x, v in by_label.items()
        }
        self.est_keys = {(i, x): est_key(pair[i], x) for i in range(2) for x in named}

    @classmethod
    def of(
        cls, every: list[str], gp: np.ndarray, gt: np.ndarray, scores: Mapping[str | None, np.ndarray]
    ) -> _Binary | None:
        """None unless one score column scores a class of booleans or 0/1 and every row's score is a
        probability (otherwise each cell decides, and names a bad row, as ``update`` does)."""
        if len(scores) != 1:
            return None
        ((label, p),) = scores.items()
        if label is not None:
            positive: str | None = str(canonical(label))
        elif set(every) <= {"false", "true"}:
            positive = "true"
        elif set(every) <= {"0", "1"}:
            positive = "1"
        else:
            return None
        if positive not in _COMPLEMENT:
            return None
        named = [positive, _COMPLEMENT[positive]]
        pair = sorted(named)
        if not set(every) <= set(pair) or not bool(np.all((p >= 0) & (p <= 1))):  # NaN fails both
            return None
        remap = np.array([pair.index(x) for x in every], dtype=np.int64)
        tc = np.where(gt >= 0, remap[np.maximum(gt, 0)], -1)
        return cls(pair, named, p, tc, remap[gp])

    def add(self, task: ClassificationProfile, rows: np.ndarray) -> None:
        labels, b = self.labels, EST_BINS
        pc, tc, lab = self.pc[rows], self.tc[rows], self.lab[rows]
        task.count_width = None  # counts added: no longer known to fit
        task.n += rows.size
        predicted = np.bincount(pc, minlength=2)
        for i in np.flatnonzero(predicted).tolist():
            task.predicted[labels[i]] = task.predicted.get(labels[i], 0) + int(predicted[i])
        n_lab = int(lab.sum())
        task.n_labeled += n_lab
        cm = np.bincount(tc[lab] * 2 + pc[lab], minlength=4)
        for k in np.flatnonzero(cm).tolist():
            row = task.confusion.setdefault(labels[k // 2], {})
            row[labels[k % 2]] = row.get(labels[k % 2], 0) + int(cm[k])
        for x in self.named if n_lab else ():  # keys where labelled rows are, as ``_update_scores``
            pos = lab & (tc == labels.index(x))
            neg = lab & ~pos
            hist = self.score_bin[x][rows]
            _add(task.pos_hist, x, np.bincount(hist[pos], minlength=SCORE_BINS))
            _add(task.neg_hist, x, np.bincount(hist[neg], minlength=SCORE_BINS))
        if n_lab:
            ll, br = self.log_loss[rows][lab], self.brier[rows][lab]
            task.n_scored += n_lab
            task.log_loss_sum += float(ll.sum())
            task.log_loss_sumsq += float(np.dot(ll, ll))
            task.brier_sum += float(br.sum())
            task.brier_sumsq += float(np.dot(br, br))
        cal, conf, correct = self.cal_bin[rows], self.conf[rows], self.correct[rows]
        for i in np.flatnonzero(predicted).tolist():
            mine = pc == i
            labelled = mine & lab
            _add(task.conf_all, labels[i], np.bincount(cal[mine], minlength=CAL_BINS))
            _add(task.conf_labeled, labels[i], np.bincount(cal[labelled], minlength=CAL_BINS))
            _add(task.conf_correct, labels[i], np.bincount(cal[mine & correct], minlength=CAL_BINS))
            _add(
                task.conf_sum,
                labels[i],
                np.bincount(cal[labelled], weights=conf[labelled], minlength=CAL_BINS),
                np.float64,
            )
        labelled_predicted = np.bincount(pc[lab], minlength=2)
        for x in self.named:
            at = pc * b + self.est_bin[x][rows]
            every = np.bincount(at, minlength=2 * b).reshape(2, b)
            labelled_at = np.bincount(at[lab], minlength=2 * b).reshape(2, b)
            hit = np.bincount(at[lab & (tc == labels.index(x))], minlength=2 * b).reshape(2, b)
            for i in np.flatnonzero(predicted).tolist():
                key = self.est_keys[(i, x)]
                _add(task.est_all, key, every[i])
                if labelled_predicted[i]:
                    _add(task.est_labeled, key, labelled_at[i])
                    _add(task.est_hit, key, hit[i])

    def add_unlabelled(self, tasks: Mapping[int, TaskProfile], rows: np.ndarray, starts: np.ndarray) -> None:
        """``add`` for every cell at once, when no row holds a label: what the cells count then (predicted
        classes, confidence bins over all rows, estimation bins over all rows) is one ``bincount`` over (cell,
        predicted class, bin) per array, in blocks of cells; each cell gets the same arrays, and keys, as
        ``add`` gives it (zeros where ``add`` adds counts of no labelled rows)."""
        labels, named = self.labels, self.named
        sizes = np.diff(starts)
        width = 2 * max(CAL_BINS, EST_BINS)
        step = max(1, _BLOCK // width)
        cal_zeros, sum_zeros = np.zeros(CAL_BINS, np.int64), np.zeros(CAL_BINS, np.float64)
        ids = sorted(tasks)
        for b0 in range(0, len(ids), step):
            block = ids[b0 : b0 + step]
            c0, c1 = block[0], block[-1] + 1
            span = rows[starts[c0] : starts[c1]]
            at = np.repeat(np.arange(c1 - c0), sizes[c0:c1]) * 2 + self.pc[span]  # (cell, predicted class)
            k = (c1 - c0) * 2
            predicted = np.bincount(at, minlength=k).reshape(-1, 2)
            conf = np.bincount(at * CAL_BINS + self.cal_bin[span], minlength=k * CAL_BINS)
            conf = conf.reshape(-1, 2, CAL_BINS)
            est = {
                x: np.bincount(at * EST_BINS + self.est_bin[x][span], minlength=k * EST_BINS).reshape(
                    -1, 2, EST_BINS
                )
                for x in named
            }
            found = predicted.tolist()  # Python numbers once for the block, not a NumPy scalar per cell
            for c in block:
                task = tasks[c]
                assert isinstance(task, ClassificationProfile)
                j = c - c0
                # A new cell's counts are at most its rows: the width they are stored in, without a reduction.
                fresh = not (task.n or task.n_labeled or task.conf_all or task.conf_labeled or task.est_all)
                fresh = fresh and not (task.est_labeled or task.pos_hist or task.neg_hist)
                task.count_width = width_of(int(sizes[c])) if fresh else None
                task.n += int(sizes[c])
                present = [i for i in (0, 1) if found[j][i]]
                for i in present:
                    task.predicted[labels[i]] = task.predicted.get(labels[i], 0) + found[j][i]
                if fresh and not task.conf_correct and not task.conf_sum:
                    # Nothing to add to (a backfill's cells): each array what ``_add`` makes of no array,
                    # the cell's counts copied and zeros, without adding them to zeros first.
                    for i in present:
                        task.conf_all[labels[i]] = conf[j, i].copy()
                        task.conf_labeled[labels[i]] = np.zeros(CAL_BINS, np.int64)
                        task.conf_correct[labels[i]] = np.zeros(CAL_BINS, np.int64)
                        task.conf_sum[labels[i]] = np.zeros(CAL_BINS, np.float64)
                    for x in named:
                        for i in present:
                            task.est_all[self.est_keys[(i, x)]] = est[x][j, i].copy()
                    continue
                for i in present:
                    _add(task.conf_all, labels[i], conf[j, i])
                    _add(task.conf_labeled, labels[i], cal_zeros)
                    _add(task.conf_correct, labels[i], cal_zeros)
                    _add(task.conf_sum, labels[i], sum_zeros, np.float64)
                for x in named:
                    for i in present:
                        _add(task.est_all, self.est_keys[(i, x)], est[x][j, i])


class Unlabelled:
    """The task counts of a batch's cells when no row holds a label: each cell's predicted classes and its
    confidence and estimation bins over all its rows (``_Binary.add_unlabelled``'s), found in blocks of
    cells. ``profile(c)`` makes cell ``c``'s profile as ``update_tasks`` of a new one does; ``entry(c)``
    writes its stored form (``ClassificationProfile.to_state``, in the header's JSON) from the blocks' bytes,
    converted once a block."""

    def __init__(self, binary: _Binary, rows: np.ndarray, starts: np.ndarray, cells: list[int]) -> None:
        self.labels, self.named, self.est_keys = binary.labels, binary.named, binary.est_keys
        sizes = np.diff(starts)
        self.sizes = sizes.tolist()
        step = max(1, _BLOCK // (2 * max(CAL_BINS, EST_BINS)))
        #: Per block: its first cell, predicted classes per cell (Python lists), conf and est counts.
        self.blocks: list[tuple[int, list[list[int]], np.ndarray, dict[str, np.ndarray]]] = []
        self.where: dict[int, int] = {}
        ids = sorted(cells)
        for b0 in range(0, len(ids), step):
            block = ids[b0 : b0 + step]
            c0, c1 = block[0], block[-1] + 1
            span = rows[starts[c0] : starts[c1]]
            at = np.repeat(np.arange(c1 - c0), sizes[c0:c1]) * 2 + binary.pc[span]  # (cell, predicted class)
            k = (c1 - c0) * 2
            predicted = np.bincount(at, minlength=k).reshape(-1, 2)
            conf = np.bincount(at * CAL_BINS + binary.cal_bin[span], minlength=k * CAL_BINS)
            est = {
                x: np.bincount(at * EST_BINS + binary.est_bin[x][span], minlength=k * EST_BINS).reshape(
                    -1, 2, EST_BINS
                )
                for x in binary.named
            }
            for c in block:
                self.where[c] = len(self.blocks)
            self.blocks.append((c0, predicted.tolist(), conf.reshape(-1, 2, CAL_BINS), est))
        self.packed: dict[tuple[int, int], tuple[bytes, dict[str, bytes]]] = {}
        self.heads: dict[tuple[tuple[int, ...], int], tuple[bytes, list[int], list[tuple[str, int]]]] = {}

    def profile(self, c: int) -> ClassificationProfile:
        """Cell ``c``'s profile, as ``_Binary.add_unlabelled`` makes a new one."""
        c0, found, conf, est = self.blocks[self.where[c]]
        j, labels = c - c0, self.labels
        task = ClassificationProfile()
        task.count_width = width_of(self.sizes[c])
        task.n = self.sizes[c]
        present = [i for i in (0, 1) if found[j][i]]
        for i in present:
            task.predicted[labels[i]] = found[j][i]
        for i in present:
            task.conf_all[labels[i]] = conf[j, i].copy()
            task.conf_labeled[labels[i]] = np.zeros(CAL_BINS, np.int64)
            task.conf_correct[labels[i]] = np.zeros(CAL_BINS, np.int64)
            task.conf_sum[labels[i]] = np.zeros(CAL_BINS, np.float64)
        for x in self.named:
            for i in present:
                task.est_all[self.est_keys[(i, x)]] = est[x][j, i].copy()
        return task

    def entry(self, c: int) -> tuple[bytes, list[bytes]]:
        """Cell ``c``'s task in the header (``{"kind":...,"meta":...,"blobs":[...]}``, as ``serialize``
        writes it) and its blobs, without making the profile."""
        b = self.where[c]
        c0, found, conf, est = self.blocks[b]
        j, labels = c - c0, self.labels
        w = width_of(self.sizes[c])
        packed = self.packed.get((b, w))
        if packed is None:  # the block's counts in the width its cells need, once
            dtype = WIDTH_DTYPES[w]
            packed = self.packed[(b, w)] = (
                conf.astype(dtype).tobytes(),
                {x: v.astype(dtype).tobytes() for x, v in est.items()},
            )
        conf_bytes, est_bytes = packed
        present = tuple(i for i in (0, 1) if found[j][i])
        head = self.heads.get((present, w))
        if head is None:  # what cells of these classes and width write alike
            names = sorted(labels[i] for i in present)
            keys = sorted(self.est_keys[(i, x)] for x in self.named for i in present)
            order = [
                (x, i) for key in keys for x in self.named for i in present if self.est_keys[(i, x)] == key
            ]
            arrays = {
                "pos_hist": [],
                "neg_hist": [],
                "conf_all": names,
                "conf_labeled": names,
                "conf_correct": names,
                "conf_sum": names,
                "est_all": keys,
                "est_labeled": [],
                "est_hit": [],
            }
            widths = {"conf_all": w, "conf_labeled": w, "conf_correct": w, "est_all": w}
            tail = orjson.dumps({"n_scored": 0, "log_loss": [0.0, 0.0], "brier": [0.0, 0.0]})[1:-1]
            sizes = (
                [CAL_BINS * w] * (3 * len(names)) + [CAL_BINS * 8] * len(names) + [EST_BINS * w] * len(keys)
            )
            # Sorted by label: the conf arrays' classes in that order.
            by_label = sorted(present, key=lambda i: labels[i])
            head = self.heads[(present, w)] = (
                b',%b,"arrays":%b,"widths":%b},"blobs":%b}'
                % (tail, orjson.dumps(arrays), orjson.dumps(widths), orjson.dumps(sizes)),
                by_label,
                order,
            )
        tail_bytes, by_label, order = head
        zeros, zero_sums = bytes(CAL_BINS * w), bytes(CAL_BINS * 8)
        size, est_size = CAL_BINS * w, EST_BINS * w
        blobs = [conf_bytes[((j * 2 + i) * size) : ((j * 2 + i + 1) * size)] for i in by_label]
        blobs += [zeros] * (2 * len(by_label)) + [zero_sums] * len(by_label)
        blobs += [est_bytes[x][((j * 2 + i) * est_size) : ((j * 2 + i + 1) * est_size)] for x, i in order]
        predicted = orjson.dumps({labels[i]: found[j][i] for i in present})
        return (
            b'{"kind":"classification","meta":{"n":%d,"n_labeled":0,"confusion":{},"predicted":%b%b'
            % (self.sizes[c], predicted, tail_bytes),
            blobs,
        )


#: Counts held at once by ``add_unlabelled``'s bincounts (cells x 2 classes x bins), as ``grouped`` blocks.
_BLOCK = 4_000_000


def _add(
    into: dict[str, np.ndarray], key: str, counts: np.ndarray, dtype: type[np.generic] = np.int64
) -> None:
    """``into[key] += counts`` as ``_update_scores`` adds them: to zeros of ``dtype`` when new."""
    into[key] = into.get(key, np.zeros(counts.size, dtype)) + counts


def _bins(p: np.ndarray, bins: int) -> np.ndarray:
    """Each probability's bin of ``bins`` equal ones on [0, 1] (1.0 in the last), as ``task`` bins them."""
    return np.minimum((p * bins).astype(np.int64), bins - 1)
