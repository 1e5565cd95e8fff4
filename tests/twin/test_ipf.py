"""IPF, tilting and integerisation against hand calculations."""

from __future__ import annotations

import numpy as np
import pytest

from cityos.twin.ipf import integerise, ipf, tilt_to_mean


def test_ipf_two_by_two_by_hand() -> None:
    # Seed [[1, 1], [1, 1]], rows (30, 70), columns (40, 60). A uniform seed has no
    # interaction, so the fit is the independence table r_i c_j / N = [[12, 18], [28, 42]].
    res = ipf(np.ones((2, 2)), [np.array([30.0, 70.0]), np.array([40.0, 60.0])])
    assert res.converged
    np.testing.assert_allclose(res.table, [[12, 18], [28, 42]], atol=1e-9)


def test_ipf_first_sweep_by_hand() -> None:
    # Seed [[1, 2], [3, 4]], rows (6, 4), columns (5, 5). Row step: [[2, 4], [12/7, 16/7]].
    # Column sums 26/7 and 44/7, so the column step gives [[35/13, 35/11], [30/13, 20/11]].
    seed = np.array([[1.0, 2.0], [3.0, 4.0]])
    one = ipf(seed, [np.array([6.0, 4.0]), np.array([5.0, 5.0])], max_iter=1)
    np.testing.assert_allclose(one.table, [[35 / 13, 35 / 11], [30 / 13, 20 / 11]], rtol=1e-12)
    assert not one.converged
    full = ipf(seed, [np.array([6.0, 4.0]), np.array([5.0, 5.0])])
    assert full.converged
    np.testing.assert_allclose(full.table.sum(axis=1), [6, 4], atol=1e-6)
    np.testing.assert_allclose(full.table.sum(axis=0), [5, 5], atol=1e-6)
    # IPF keeps the seed's odds ratio (1*4)/(2*3) = 2/3.
    t = full.table
    assert t[0, 0] * t[1, 1] / (t[0, 1] * t[1, 0]) == pytest.approx(2 / 3, rel=1e-9)


def test_ipf_three_axes_and_structural_zeros() -> None:
    seed = np.ones((2, 3, 2))
    seed[0, 0, :] = 0.0  # structural zero stays zero
    margins = [np.array([40.0, 60.0]), np.array([20.0, 30.0, 50.0]), np.array([55.0, 45.0])]
    res = ipf(seed, margins)
    assert res.converged
    assert np.all(res.table[0, 0] == 0)
    for axis, m in enumerate(margins):
        others = tuple(a for a in range(3) if a != axis)
        np.testing.assert_allclose(res.table.sum(axis=others), m, atol=1e-6)


def test_ipf_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="total"):
        ipf(np.ones((2, 2)), [np.array([1.0, 1.0]), np.array([1.0, 2.0])])
    with pytest.raises(ValueError, match="one margin per axis"):
        ipf(np.ones((2, 2)), [np.array([1.0, 1.0])])
    with pytest.raises(ValueError, match="negative"):
        ipf(-np.ones((2, 2)), [np.array([1.0, 1.0]), np.array([1.0, 1.0])])


def test_tilt_to_mean_by_hand() -> None:
    # Values (1, 2, 3), equal shares, mean 2.5. Tilting gives p = (1, x, x^2) / S with
    # S = 1 + x + x^2, and mean - 1 = (x + 2x^2) / S = 1.5
    # -> x + 2x^2 = 1.5 + 1.5x + 1.5x^2 -> 0.5x^2 - 0.5x - 1.5 = 0 -> x = (1 + sqrt(13)) / 2.
    x = (1 + np.sqrt(13)) / 2
    expected = np.array([1, x, x * x]) / (1 + x + x * x)
    p = tilt_to_mean(np.ones(3) / 3, np.array([1.0, 2.0, 3.0]), 2.5)
    np.testing.assert_allclose(p, expected, rtol=1e-9)
    assert p @ np.array([1.0, 2.0, 3.0]) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="outside"):
        tilt_to_mean(np.ones(3), np.array([1.0, 2.0, 3.0]), 3.5)


def test_integerise_keeps_total_and_floors() -> None:
    rng = np.random.default_rng(1)
    w = np.array([1.5, 2.5, 6.0, 0.0])
    out = integerise(w, 10, rng)
    assert out.sum() == 10
    assert out[3] == 0
    assert out[2] == 6
    assert set(out[:2].tolist()) <= {1, 2, 3}
    assert integerise(np.array([0.3, 0.3, 0.4]), 0, rng).sum() == 0
