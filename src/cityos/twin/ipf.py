"""Iterative proportional fitting and integerisation: pure numpy functions.

- ``ipf``: fit a seed table to one-dimensional margins, W. E. Deming and F. F. Stephan,
  "On a least squares adjustment of a sampled frequency table when the expected marginal
  totals are known", *Annals of Mathematical Statistics* 11(4), 427-444 (1940).
- ``tilt_to_mean``: the distribution closest to given shares (minimum Kullback-Leibler
  divergence) with a prescribed mean, i.e. exponential tilting (Kullback, *Information Theory
  and Statistics*, 1959).
- ``integerise``: truncate, then give out the remaining units by sampling on the fractional
  parts without replacement ("truncate, replicate, sample", R. Lovelace and D. Ballas,
  *Computers, Environment and Urban Systems* 41, 1-11, 2013).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class IPFResult:
    """A fitted table and how the fit went."""

    table: FloatArray
    iterations: int
    max_error: float  # largest absolute margin error after the last sweep [table units]
    converged: bool


def ipf(
    seed: FloatArray,
    margins: Sequence[FloatArray],
    tol: float = 1e-9,
    max_iter: int = 1_000,
) -> IPFResult:
    """Fit ``seed`` to one margin per axis by iterative proportional fitting (Deming-Stephan)."""
    table = np.asarray(seed, dtype=np.float64).copy()
    if table.ndim != len(margins):
        raise ValueError(f"need one margin per axis: {table.ndim} axes, {len(margins)} margins")
    targets = [np.asarray(m, dtype=np.float64) for m in margins]
    for axis, m in enumerate(targets):
        if m.shape != (table.shape[axis],):
            raise ValueError(f"margin {axis} has shape {m.shape}, expected ({table.shape[axis]},)")
        if np.any(m < 0):
            raise ValueError(f"margin {axis} has negative entries")
    if np.any(table < 0):
        raise ValueError("seed has negative entries")
    totals = [float(m.sum()) for m in targets]
    if not np.allclose(totals, totals[0], rtol=1e-9, atol=1e-9):
        raise ValueError(f"margins disagree on the total: {totals}")
    others = [tuple(a for a in range(table.ndim) if a != k) for k in range(table.ndim)]
    error = np.inf
    for it in range(1, max_iter + 1):
        for axis, m in enumerate(targets):
            current = table.sum(axis=others[axis])
            factor = np.divide(m, current, out=np.zeros_like(m), where=current > 0)
            shape = [1] * table.ndim
            shape[axis] = -1
            table *= factor.reshape(shape)
        error = max(
            float(np.abs(table.sum(axis=others[k]) - targets[k]).max()) for k in range(table.ndim)
        )
        if error <= tol * max(totals[0], 1.0):
            return IPFResult(table, it, error, True)
    return IPFResult(table, max_iter, error, False)


def tilt_to_mean(shares: FloatArray, values: FloatArray, mean: float) -> FloatArray:
    """Return shares p_k proportional to shares_k * exp(lambda * values_k) with sum(p v) = mean."""
    q = np.asarray(shares, dtype=np.float64) / np.sum(shares)
    v = np.asarray(values, dtype=np.float64)
    if not v[q > 0].min() < mean < v[q > 0].max():
        raise ValueError(f"mean {mean} is outside the values' range with positive share")
    z = (v - v.mean()) / max(float(np.ptp(v)), 1e-12)  # scale keeps exp() well inside range

    def tilted(lam: float) -> FloatArray:
        w = q * np.exp(lam * z)
        return np.asarray(w / w.sum(), dtype=np.float64)

    lo, hi = -1.0, 1.0
    while float(tilted(lo) @ v) > mean:
        lo *= 2.0
    while float(tilted(hi) @ v) < mean:
        hi *= 2.0
    for _ in range(200):  # bisection: the tilted mean rises monotonically with lambda
        mid = 0.5 * (lo + hi)
        if float(tilted(mid) @ v) < mean:
            lo = mid
        else:
            hi = mid
    return tilted(0.5 * (lo + hi))


def integerise(weights: FloatArray, total: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Round non-negative ``weights`` to integers summing to ``total`` (truncate and sample)."""
    w = np.asarray(weights, dtype=np.float64)
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    if w.sum() <= 0:
        if total:
            raise ValueError("cannot give out a positive total over zero weights")
        return np.zeros(w.shape, dtype=np.int64)
    scaled = w * (total / w.sum())
    base = np.floor(scaled).astype(np.int64)
    left = int(total - base.sum())
    if left > 0:
        frac = scaled - base
        p = frac / frac.sum() if frac.sum() > 0 else np.full(w.shape, 1.0 / w.size)
        p = np.where(w > 0, p, 0.0)
        p = p / p.sum()
        picks = rng.choice(w.size, size=left, replace=False, p=p.ravel())
        np.add.at(base.reshape(-1), picks, 1)
    return base
