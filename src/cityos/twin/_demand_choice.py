"""Multinomial-logit choice as pure numpy functions (McFadden 1974).

P_i(m) = exp(V_im) / sum_k exp(V_ik) over the alternatives available to i
(McFadden, D., 1974, "Conditional logit analysis of qualitative choice behavior", in
Zarembka (ed.), *Frontiers in Econometrics*; Ortuzar & Willumsen, *Modelling Transport*,
4th ed., 2011, ch. 7).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def logit_probabilities(
    utility: FloatArray, available: NDArray[np.bool_] | None = None
) -> FloatArray:
    """Return multinomial-logit choice probabilities along the last axis [-].

    Unavailable alternatives get probability 0; a row with none available gets all zeros.
    The maximum utility is subtracted first so large utilities do not overflow.
    """
    v = np.array(utility, dtype=np.float64, copy=True)
    if available is not None:
        v = np.where(available, v, -np.inf)
    vmax = np.max(v, axis=-1, keepdims=True)
    vmax = np.where(np.isfinite(vmax), vmax, 0.0)
    e = np.exp(v - vmax)
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def logsum(utility: FloatArray, available: NDArray[np.bool_] | None = None) -> FloatArray:
    """Return the expected maximum utility ln(sum_k exp V_k) along the last axis [-]."""
    v = np.asarray(utility, dtype=np.float64)
    if available is not None:
        v = np.where(available, v, -np.inf)
    vmax = np.max(v, axis=-1, keepdims=True)
    vmax = np.where(np.isfinite(vmax), vmax, 0.0)
    return np.log(np.exp(v - vmax).sum(axis=-1)) + vmax[..., 0]


def sample_rows(prob: FloatArray, rng: np.random.Generator) -> NDArray[np.int64]:
    """Draw one alternative per row of ``prob`` (rows sum to 1) by inverse CDF."""
    cum = np.cumsum(prob, axis=-1)
    u = rng.random(prob.shape[:-1]) * cum[..., -1]
    pick = (u[..., None] >= cum).sum(axis=-1)
    return np.minimum(pick, prob.shape[-1] - 1).astype(np.int64)


def sample_from_table(
    table: FloatArray, rows: NDArray[np.integer], rng: np.random.Generator
) -> NDArray[np.int64]:
    """Draw one column per entry of ``rows`` from the probability rows of ``table``.

    Cheaper than building one probability row per draw: uniforms are searched in the
    cumulative row of the (small) table they belong to.
    """
    cum = np.cumsum(table, axis=1)
    cum /= np.where(cum[:, -1:] > 0, cum[:, -1:], 1.0)
    u = rng.random(len(rows))
    n_cols = table.shape[1]
    flat = (cum + np.arange(len(table))[:, None]).ravel()  # rows stacked on [r, r+1)
    pick = np.searchsorted(flat, u + rows, side="right") - rows * n_cols
    return np.clip(pick, 0, n_cols - 1).astype(np.int64)


def destination_probabilities(
    attraction: FloatArray, time_min: FloatArray, beta_per_min: float
) -> FloatArray:
    """Return P(j | i) for V_ij = ln(A_j) + beta * t_ij; zones with A_j = 0 are excluded.

    ``attraction`` [-] has one entry per zone, ``time_min`` [min] is the (i, j) skim and
    ``beta_per_min`` [1/min] is negative.
    """
    a = np.asarray(attraction, dtype=np.float64)
    with np.errstate(divide="ignore"):
        size = np.where(a > 0, np.log(np.where(a > 0, a, 1.0)), -np.inf)
    util = size[None, :] + beta_per_min * np.asarray(time_min, dtype=np.float64)
    return logit_probabilities(util)
