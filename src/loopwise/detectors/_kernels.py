"""Compiled loops for ``update_many`` (numba): each is the detector's ``_step`` written again over an array,
the same operations in the same order, so it reaches the same state to the bit (tests/detectors/ hold every
kernel to ``update`` and to river). A kernel takes the state as arguments, runs up to and including the
first alarm, and returns how many values it took, whether the last one fired, and the new state.

Imported on first use only (numba's import and the first compilation cost about a second; compiled code is
cached next to this file, or in the user's cache directory when that is not writable).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def _jit(f: F) -> F:
    # error_model="numpy": a float division by zero gives inf or nan as in NumPy (the detectors guard their
    # divisions as the Python ports do); no fastmath, so every operation rounds as in Python.
    return cast(F, numba.njit(cache=True, nogil=True, error_model="numpy")(f))


# -- Page-Hinkley ------------------------------------------------------------------------------------------


@_jit
def page_hinkley(
    chunk: Any,
    n: int,
    count: int,
    total: float,
    inc: float,
    dec: float,
    min_inc: float,
    max_dec: float,
    min_at: int,
    max_at: int,
    delta: float,
    alpha: float,
    threshold: float,
    min_instances: int,
    up_on: bool,
    down_on: bool,
) -> Any:
    k = chunk.shape[0]
    for i in range(k):
        x = chunk[i]
        count += 1
        total += x
        dev = x - total / count
        inc = (dev - delta) + alpha * inc
        dec = (dev + delta) + alpha * dec
        if inc < min_inc:
            min_inc = inc
            min_at = n + i
        if dec > max_dec:
            max_dec = dec
            max_at = n + i
        if count >= min_instances and (
            (up_on and inc - min_inc > threshold) or (down_on and max_dec - dec > threshold)
        ):
            return i + 1, True, count, total, inc, dec, min_inc, max_dec, min_at, max_at
    return k, False, count, total, inc, dec, min_inc, max_dec, min_at, max_at


# -- DDM and EDDM ------------------------------------------------------------------------------------------


@_jit
def ddm(
    chunk: Any,
    n: int,
    count: int,
    errors: float,
    p_min: float,
    s_min: float,
    ps_min: float,
    min_at: int,
    warning: bool,
    warm_start: int,
    warning_threshold: float,
    drift_threshold: float,
) -> Any:
    k = chunk.shape[0]
    for i in range(k):
        count += 1
        errors += chunk[i]
        p = errors / count
        s = math.sqrt(p * (1 - p) / count)
        if count <= warm_start:
            continue
        if p + s <= ps_min:
            p_min = p
            s_min = s
            ps_min = p + s
            min_at = n + i
        warning = p + s > p_min + warning_threshold * s_min
        if p + s > p_min + drift_threshold * s_min:
            return i + 1, True, count, errors, p_min, s_min, ps_min, min_at, False
    return k, False, count, errors, p_min, s_min, ps_min, min_at, warning


@_jit
def eddm(
    chunk: Any,
    n: int,
    count: int,
    last_error: int,
    n_errors: int,
    d_sum: float,
    d_squares: float,
    top: float,
    top_at: int,
    warning: bool,
    warm_start: int,
    alpha: float,
    beta: float,
) -> Any:
    k = chunk.shape[0]
    for i in range(k):
        count += 1
        if chunk[i] != 1:
            continue
        n_errors += 1
        d = float(count - last_error)
        d_sum += d
        d_squares += d * d
        last_error = count
        if count <= warm_start:
            continue
        e = float(n_errors)
        mean = d_sum / e
        var = (d_squares - d_sum * d_sum / e) / max(e - 1, 1.0) if e > 1 else 0.0
        p2s = mean + 2 * math.sqrt(max(var, 0.0))
        if p2s > top:
            top = p2s
            top_at = n + i
        elif n_errors > warm_start:
            level = p2s / top
            if level < beta:
                return i + 1, True, count, last_error, n_errors, d_sum, d_squares, top, top_at, warning
            warning = level < alpha
    return k, False, count, last_error, n_errors, d_sum, d_squares, top, top_at, warning


# -- HDDM-A ------------------------------------------------------------------------------------------------


@_jit
def _hddm_a_beyond(n: float, change: float, n_cut: float, log: float) -> bool:
    m = (n - n_cut) / n_cut * (1.0 / n)
    return bool((n_cut != n) & (change >= math.sqrt(m / 2 * log)))


@_jit
def hddm_a(
    chunk: Any,
    n: int,
    count: int,
    total: float,
    n_min: int,
    n_max: int,
    mean_min: float,
    mean_max: float,
    v_min: float,
    v_max: float,
    min_at: int,
    max_at: int,
    warning: bool,
    log_bound: float,
    log_drift: float,
    log_warning: float,
    two_sided: bool,
) -> Any:
    """Returns also whether a rise fired (the change point is then after the low cut)."""
    k = chunk.shape[0]
    used, fired, rose = k, False, False
    for i in range(k):
        count += 1
        total += chunk[i]
        mean = total / count
        eps = math.sqrt(1.0 / (2 * count) * log_bound)
        if mean + eps <= v_min:
            n_min, mean_min, v_min, min_at = count, mean, mean + eps, n + i
        if mean - eps >= v_max:
            n_max, mean_max, v_max, max_at = count, mean, mean - eps, n + i
        c = float(count)
        rise = mean - mean_min
        up = _hddm_a_beyond(c, rise, float(n_min), log_drift)
        drift = up
        warning = (not up) and _hddm_a_beyond(c, rise, float(n_min), log_warning)
        if two_sided:
            fall = mean_max - mean
            down = _hddm_a_beyond(c, fall, float(n_max), log_drift)
            drift = drift or down
            warning = warning or ((not down) and _hddm_a_beyond(c, fall, float(n_max), log_warning))
        if drift:
            used, fired, rose = i + 1, True, up
            break
    return (
        used,
        fired,
        rose,
        count,
        total,
        n_min,
        n_max,
        mean_min,
        mean_max,
        v_min,
        v_max,
        min_at,
        max_at,
        warning,
    )


# -- HDDM-W ------------------------------------------------------------------------------------------------

# The five exponentially weighted means of HDDM-W, each (mean, ibc, init) in a row of a (5, 3) array.
TOTAL, S1_INCR, S2_INCR, S1_DECR, S2_DECR = 0, 1, 2, 3, 4


@_jit
def _ewma_update(e: Any, row: int, x: float, lam: float, one_minus: float, lam_sq: float, c: float) -> None:
    e[row, 0] = lam * x + one_minus * e[row, 0] if e[row, 2] != 0 else x
    e[row, 2] = 1.0
    e[row, 1] = lam_sq + c * e[row, 1]


@_jit
def _ewma_changed(e: Any, before: int, after: int, log_conf: float) -> bool:
    if not (e[before, 2] != 0 and e[after, 2] != 0):
        return False
    return bool(e[after, 0] - e[before, 0] > math.sqrt((e[before, 1] + e[after, 1]) * log_conf / 2))


@_jit
def hddm_w(
    chunk: Any,
    n: int,
    e: Any,
    incr_cut: float,
    decr_cut: float,
    incr_at: int,
    decr_at: int,
    warning: bool,
    lam: float,
    one_minus: float,
    lam_sq: float,
    c_lam_sq: float,
    log_drift: float,
    log_warning: float,
    two_sided: bool,
) -> Any:
    """``e``: the (5, 3) array of means, changed in place. Returns also whether a rise fired."""
    k = chunk.shape[0]
    for i in range(k):
        x = chunk[i]
        _ewma_update(e, TOTAL, x, lam, one_minus, lam_sq, c_lam_sq)
        eps = math.sqrt(e[TOTAL, 1] * log_drift / 2)
        if e[TOTAL, 0] + eps < incr_cut:
            incr_cut = e[TOTAL, 0] + eps
            e[S1_INCR, :] = e[TOTAL, :]
            e[S2_INCR, 0], e[S2_INCR, 1], e[S2_INCR, 2] = 0.0, 1.0, 0.0
            incr_at = n + i
        else:
            _ewma_update(e, S2_INCR, x, lam, one_minus, lam_sq, c_lam_sq)
        drift = _ewma_changed(e, S1_INCR, S2_INCR, log_drift)
        up = drift
        warning = (not drift) and _ewma_changed(e, S1_INCR, S2_INCR, log_warning)
        if e[TOTAL, 0] - eps > decr_cut:
            decr_cut = e[TOTAL, 0] - eps
            e[S1_DECR, :] = e[TOTAL, :]
            e[S2_DECR, 0], e[S2_DECR, 1], e[S2_DECR, 2] = 0.0, 1.0, 0.0
            decr_at = n + i
        else:
            _ewma_update(e, S2_DECR, x, lam, one_minus, lam_sq, c_lam_sq)
        if two_sided:
            if _ewma_changed(e, S2_DECR, S1_DECR, log_drift):
                drift = True
            elif _ewma_changed(e, S2_DECR, S1_DECR, log_warning):
                warning = True
        if drift:
            return i + 1, True, up, incr_cut, decr_cut, incr_at, decr_at, warning
    return k, False, False, incr_cut, decr_cut, incr_at, decr_at, warning


# -- ADWIN -------------------------------------------------------------------------------------------------

#: Levels of ADWIN's buckets the arrays hold (a level holds buckets of 2**level values), and the slots of
#: each level (at least max_buckets + 1).
ADWIN_LEVELS = 64
#: Most values the kernel takes into the buckets at once (between checks), which bounds its buffers.
_ADWIN_BLOCK = 4096


@_jit
def adwin(
    chunk: Any,
    totals: Any,
    variances: Any,
    heads: Any,
    counts: Any,
    levels: int,
    tick: int,
    width: float,
    total: float,
    variance: float,
    delta: float,
    clock: int,
    max_buckets: int,
    min_window_length: int,
    grace_period: int,
) -> Any:
    """ADWIN's ``_step`` (insert, then every ``clock`` values a scan) over ``chunk``. Level ``l``'s
    buckets, oldest first, are ``totals[l, (heads[l] + j) % slots]`` for ``j < counts[l]`` on entry, and
    ``totals[l, j]`` on return (``heads`` then 0); all four arrays change in place. Stops after the first
    value whose scan found a change (the scan has dropped its buckets).

    The port's work, reordered where the order does not change a result (every number is the port's, by
    the same operations on the same operands, so the state is the same to the bit):

    - values come in blocks, up to the next check (at most ``_ADWIN_BLOCK``): the window's totals first,
      then each value's increment of the variance (the divisions are independent of one another, so the
      compiler runs several at once), then the variance's sum in the port's order;
    - a block's values go into the buckets level by level: a level that takes ``p`` buckets holding ``c``
      merges its oldest pairs ``1 + (c + p - max_buckets - 1) // 2`` times (none if ``c + p <= max_buckets``),
      the port's count, in the port's order, into the level above (each merge a function of its pair only);
    - a scan first asks whether any cut could pass at all (``_adwin_may_cut``: a necessary condition
      without divisions, square roots or logarithms); only then are the cuts tested as the port tests them.
    """
    k = chunk.shape[0]
    full = max_buckets + 1
    slots = totals.shape[1]
    mwl = float(min_window_length)
    # Level arrays without a ring: head 0 (empty slots 0).
    row_t = np.empty(slots)
    row_v = np.empty(slots)
    for level in range(totals.shape[0]):
        c = counts[level] if level < levels else 0
        for b in range(c):
            row_t[b] = totals[level, (heads[level] + b) % slots]
            row_v[b] = variances[level, (heads[level] + b) % slots]
        for b in range(slots):
            totals[level, b] = row_t[b] if b < c else 0.0
            variances[level, b] = row_v[b] if b < c else 0.0
        heads[level] = 0
        counts[level] = c
    block = min(clock, k, _ADWIN_BLOCK)
    cap = block + 2 * full + 2
    # Level l's buckets and those it takes from below, oldest first, in row l & 1 (its merges go to the
    # other row, after the buckets the level above holds; rows, not arrays swapped: numba counts references
    # on every assignment of an array).
    queue_t = np.empty((2, cap))
    queue_v = np.empty((2, cap))
    # An upper bound of the absolute bucket sums (for the quick test's slack): a merge or a drop does not
    # raise their sum, a value raises it by at most its absolute value.
    absolute = 0.0
    for level in range(levels):
        for b in range(counts[level]):
            absolute += abs(totals[level, b])
    # The quick test's delta' from a lower bound of log(width) (its binary exponent times log 2), so that
    # it needs a logarithm only when that exponent changes.
    exponent = -1
    delta_low = 0.0
    # Per scan that may cut: the cuts' sizes and sums (sequential, as the port adds them), then each test.
    cut_n0 = np.empty(totals.shape[0] * full)
    cut_n1 = np.empty_like(cut_n0)
    cut_u0 = np.empty_like(cut_n0)
    cut_u1 = np.empty_like(cut_n0)
    cut_ok = np.empty(cut_n0.shape[0], dtype=np.bool_)
    before = np.empty(cap)
    next_check = tick + clock - tick % clock  # the next multiple of clock
    i = 0
    while i < k:
        end = min(k, i + (next_check - tick), i + block)
        m = end - i
        # The window's sums: per value the port adds (width - 1) d^2 / width to the variance, with
        # d = x - total / (width - 1) (total before x), then x to the total.
        for j in range(m):
            before[j] = total
            total += chunk[i + j]
        for j in range(m):
            w = width + float(j + 1)
            d = chunk[i + j] - before[j] / (w - 1.0)
            before[j] = (w - 1.0) * d * d / w if w > 1.0 else 0.0
        for j in range(m):
            variance += before[j]
            absolute += abs(chunk[i + j])
        width += float(m)
        # The buckets, level by level. Level 0 takes the block's values (variance 0); its merges read them
        # from the chunk (a bucket of one value: mu = t and n1 * 0.5 = 0.5, exactly).
        c = counts[0]
        n = c + m
        if n < full:
            for j in range(m):
                totals[0, c + j] = chunk[i + j]
                variances[0, c + j] = 0.0
            counts[0] = n
            p = 0
        else:
            merges = 1 + (n - full) // 2
            if levels == 1:
                levels = 2
            c_up = counts[1]
            held = min((c + 1) // 2, merges)  # the merges that take a bucket level 0 already held
            for j in range(held):
                t0, v0 = totals[0, 2 * j], variances[0, 2 * j]
                if 2 * j + 1 < c:
                    t1, v1 = totals[0, 2 * j + 1], variances[0, 2 * j + 1]
                else:
                    t1, v1 = chunk[i + 2 * j + 1 - c], 0.0
                queue_t[1, c_up + j] = t0 + t1
                queue_v[1, c_up + j] = v0 + v1 + 0.5 * (t0 - t1) * (t0 - t1)
            for j in range(held, merges):
                t0, t1 = chunk[i + 2 * j - c], chunk[i + 2 * j + 1 - c]
                queue_t[1, c_up + j] = t0 + t1
                queue_v[1, c_up + j] = 0.0 + 0.0 + 0.5 * (t0 - t1) * (t0 - t1)
            kept = n - 2 * merges
            for j in range(kept):
                q = 2 * merges + j
                if q < c:
                    totals[0, j], variances[0, j] = totals[0, q], variances[0, q]
                else:
                    totals[0, j], variances[0, j] = chunk[i + q - c], 0.0
            counts[0] = kept
            c, p = c_up, merges
        level = 1
        while p > 0:
            row = level & 1
            n = c + p
            if n < full:
                for j in range(c, n):
                    totals[level, j] = queue_t[row, j]
                    variances[level, j] = queue_v[row, j]
                counts[level] = n
                break
            for j in range(c):
                queue_t[row, j] = totals[level, j]
                queue_v[row, j] = variances[level, j]
            merges = 1 + (n - full) // 2
            if level + 1 == levels:
                levels += 1
            up = 1 - row
            c_up = counts[level + 1]
            n1 = float(1 << level)
            inv = 1.0 / n1  # a power of two: t / n1 == t * inv exactly
            for j in range(merges):
                t0, t1 = queue_t[row, 2 * j], queue_t[row, 2 * j + 1]
                v0, v1 = queue_v[row, 2 * j], queue_v[row, 2 * j + 1]
                mu1, mu2 = t0 * inv, t1 * inv
                queue_t[up, c_up + j] = t0 + t1
                queue_v[up, c_up + j] = v0 + v1 + n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2)
            kept = n - 2 * merges
            for j in range(kept):
                totals[level, j] = queue_t[row, 2 * merges + j]
                variances[level, j] = queue_v[row, 2 * merges + j]
            counts[level] = kept
            c, p = c_up, merges
            level += 1
        tick += m
        i = end
        if tick != next_check:
            continue
        next_check += clock
        if not width > grace_period:
            continue
        # scan
        changed = False
        reduce = True
        while reduce:
            reduce = False
            if not width > 1.0:
                break  # a window of one value: river's log of 0 is -inf, and no cut passes
            spread = variance / width
            e = math.frexp(width)[1] - 1  # 2**e <= width
            if e != exponent:
                exponent = e
                low = e * math.log(2.0)  # <= log(width)
                delta_low = math.log(2.0 * low / delta) if low > 0 else -math.inf
            slack = 1e-8 * width * (abs(total) + absolute)
            if not _adwin_may_cut(
                totals, counts, levels, max_buckets, width, total, spread * delta_low, mwl, slack
            ):
                break  # the exact tests below would all fail
            ln_width = math.log(width)
            delta_prime = math.log(2.0 * ln_width / delta)
            scale = 2.0 / 3.0 * delta_prime
            # The cuts in the port's order (oldest bucket first), but for the last bucket of level 0.
            n0, n1, u0, u1 = 0.0, width, 0.0, total
            m = 0
            for level in range(levels - 1, -1, -1):
                size = float(1 << level)
                c = counts[level]
                if level == 0:
                    c -= 1
                for b in range(c):
                    t = totals[level, b]
                    n0 += size
                    n1 -= size
                    u0 += t
                    u1 -= t
                    cut_n0[m] = n0
                    cut_n1[m] = n1
                    cut_u0[m] = u0
                    cut_u1[m] = u1
                    m += 1
            for b in range(m):
                n0, n1 = cut_n0[b], cut_n1[b]
                m_recip = 1.0 / (n0 - mwl + 1.0) + 1.0 / (n1 - mwl + 1.0)
                under = 2.0 * m_recip * spread * delta_prime
                lhs = abs(cut_u0[b] / n0 - cut_u1[b] / n1)
                rhs = math.sqrt(max(under, 0.0)) + scale * m_recip
                cut_ok[b] = (n1 >= mwl) & (n0 >= mwl) & (n1 > 0) & (under >= 0) & (lhs > rhs)
            first = -1
            for b in range(m):
                if cut_ok[b]:
                    first = b
                    break
            if first >= 0:
                reduce = changed = True
                if width > 0:
                    # drop the oldest bucket
                    top = levels - 1
                    nb = float(1 << top)
                    u, v = totals[top, 0], variances[top, 0]
                    mu = u / nb
                    width -= nb
                    total -= u
                    mu_window = total / width
                    variance -= v + nb * width * (mu - mu_window) * (mu - mu_window) / (nb + width)
                    c = counts[top]
                    for b in range(c - 1):
                        totals[top, b] = totals[top, b + 1]
                        variances[top, b] = variances[top, b + 1]
                    totals[top, c - 1] = 0.0
                    variances[top, c - 1] = 0.0
                    counts[top] = c - 1
                    if counts[top] == 0 and top > 0:
                        levels -= 1
        if changed:
            return i, True, levels, tick, width, total, variance
    return k, False, levels, tick, width, total, variance


@_jit
def _adwin_may_cut(
    totals: Any,
    counts: Any,
    levels: int,
    max_buckets: int,
    width: float,
    total: float,
    spread_delta: float,
    mwl: float,
    slack: float,
) -> bool:
    """Whether some cut of a scan might pass ADWIN's test, by a necessary condition without divisions or
    square roots. A cut (``n0`` older values summing to ``u0``, ``n1`` newer summing to ``u1``) passes only
    if ``|u0 / n0 - u1 / n1| > sqrt(2 m spread delta')``, and ``m = 1 / (n0 - mwl + 1) + 1 / (n1 - mwl + 1)
    >= width / (n0 n1)`` when ``mwl >= 1``: so only if ``(u0 width - total n0)^2 > 2 spread delta' width
    n0 n1``. ``spread_delta`` may be below the port's (a lower bound of delta'); ``slack`` (1e-8 of
    ``width (|total| + the absolute bucket sums)``) is added to the difference and 1e-8 taken off the
    bound, far above the rounding of either side, so that a cut the exact test passes always passes this
    one; on a stream without a change no cut comes near it."""
    if not spread_delta > 0.0 or mwl < 1.0:
        return True  # the bound does not hold (or the exact test decides on its own): test every cut
    bound = 2.0 * spread_delta * width * (1.0 - 1e-8)
    base_n, base_u = 0.0, 0.0
    hit = False
    for level in range(levels - 1, -1, -1):
        size = float(1 << level)
        c = counts[level]
        usable = c - 1 if level == 0 else c
        u, n0 = base_u, base_n
        for b in range(usable):
            u += totals[level, b]
            n0 += size
            n1 = width - n0
            d = abs(u * width - total * n0) + slack
            # (n0 >= mwl and n1 >= mwl, which the port also asks, left out: a cut more passes, no harm)
            hit |= d * d > bound * n0 * n1
        base_n += size * float(c)
        base_u = u
    return hit


# -- KSWIN -------------------------------------------------------------------------------------------------

_MT_N, _MT_M = 624, 397
_MATRIX_A, _UPPER, _LOWER = 0x9908B0DF, 0x80000000, 0x7FFFFFFF


@_jit
def _genrand(mt: Any, pos: Any) -> int:
    """CPython's Mersenne Twister (``_randommodule.c``, ``genrand_uint32``): ``mt`` holds the 624 words (as
    int64), ``pos[0]`` the index of the next one."""
    if pos[0] >= _MT_N:
        for kk in range(_MT_N - _MT_M):
            y = (mt[kk] & _UPPER) | (mt[kk + 1] & _LOWER)
            mt[kk] = mt[kk + _MT_M] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
        for kk in range(_MT_N - _MT_M, _MT_N - 1):
            y = (mt[kk] & _UPPER) | (mt[kk + 1] & _LOWER)
            mt[kk] = mt[kk + (_MT_M - _MT_N)] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
        y = (mt[_MT_N - 1] & _UPPER) | (mt[0] & _LOWER)
        mt[_MT_N - 1] = mt[_MT_M - 1] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
        pos[0] = 0
    y = mt[pos[0]]
    pos[0] += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return int(y)


@_jit
def _randbelow(mt: Any, pos: Any, n: int) -> int:
    """``random.Random._randbelow(n)``: ``getrandbits(n.bit_length())`` until below ``n``."""
    bits = 0
    m = n
    while m:
        bits += 1
        m >>= 1
    r = _genrand(mt, pos) >> (32 - bits)
    while r >= n:
        r = _genrand(mt, pos) >> (32 - bits)
    return r


@_jit
def _sample(
    mt: Any, pos: Any, population: int, k: int, use_pool: bool, out: Any, pool: Any, taken: Any
) -> None:
    """``random.Random.sample(range(population), k)`` into ``out`` (CPython 3.11's two methods: a pool when
    the population is small against ``k``, else draws with rejection of repeats)."""
    if use_pool:
        for j in range(population):
            pool[j] = j
        for i in range(k):
            j = _randbelow(mt, pos, population - i)
            out[i] = pool[j]
            pool[j] = pool[population - i - 1]
    else:
        for i in range(k):
            j = _randbelow(mt, pos, population)
            while taken[j]:
                j = _randbelow(mt, pos, population)
            taken[j] = True
            out[i] = j
        for i in range(k):
            taken[out[i]] = False


@_jit
def kswin(
    values: Any,
    held: int,
    window_size: int,
    stat_size: int,
    mt: Any,
    pos: Any,
    use_pool: bool,
    p_table: Any,
    s_table: Any,
    alpha: float,
    p_value: float,
) -> Any:
    """``values``: the window carried in (``held`` values) then the slice. A test after each value once the
    window is full; returns the values of the slice taken, whether the last fired, and the last p-value.
    ``mt``/``pos`` (the generator) change in place."""
    w, s = window_size, stat_size
    k = values.shape[0] - held
    draws = np.empty(s, dtype=np.int64)
    pool = np.empty(w - s, dtype=np.int64)
    taken = np.zeros(w - s, dtype=np.bool_)
    older = np.empty(s)
    first = max(0, w - 1 - held)
    for step in range(first, k):
        end = held + step + 1
        _sample(mt, pos, w - s, s, use_pool, draws, pool, taken)
        for j in range(s):
            older[j] = values[end - w + draws[j]]
        a = np.sort(older)
        b = np.sort(values[end - s : end])
        # The largest gap between the counts of a and b at or below a value (read after ties).
        i = 0
        j = 0
        gap = 0
        while i < s or j < s:
            v = a[i] if i < s else np.inf
            if j < s and b[j] < v:
                v = b[j]
            while i < s and a[i] == v:
                i += 1
            while j < s and b[j] == v:
                j += 1
            if abs(i - j) > gap:
                gap = abs(i - j)
        p_value = p_table[gap]
        if p_value <= alpha and s_table[gap] > 0.1:
            return step + 1, True, p_value
    return k, False, p_value
