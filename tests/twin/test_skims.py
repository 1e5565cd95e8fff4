"""Travel-time skims: connectivity, symmetry and plausibility."""

from __future__ import annotations

import numpy as np
import pytest

from cityos.twin.city import City
from cityos.twin.skims import BIKE_KMH, WALK_KMH, all_skims, distance_skim, skim

JOCHIWON, EOJIN, HANSOL = "36110250", "36110110", "36110106"


@pytest.fixture(scope="module")
def skims(city: City) -> dict[str, np.ndarray]:
    return dict(all_skims(city))


def test_every_zone_reaches_every_other_by_car(skims: dict[str, np.ndarray]) -> None:
    car = skims["car"]
    assert car.shape == (24, 24)
    assert np.all(np.isfinite(car))
    assert np.all(car > 0)


def test_skims_are_symmetric_ish(skims: dict[str, np.ndarray]) -> None:
    for mode, t in skims.items():
        rel = np.abs(t - t.T) / np.maximum(t, t.T)
        assert rel.max() < 0.15, mode


def test_plausible_times(city: City, skims: dict[str, np.ndarray]) -> None:
    i, j = city.zones.index[JOCHIWON], city.zones.index[EOJIN]
    assert 20 <= skims["car"][i, j] <= 35  # Jochiwon -> Government Complex by car [min]
    assert 35 <= skims["transit"][i, j] <= 80
    assert skims["car"][i, j] < skims["transit"][i, j] < skims["walk"][i, j]
    h = city.zones.index[HANSOL]
    assert skims["car"][h, j] < 15  # neighbouring new-town dongs
    assert 12 <= distance_skim(city)[i, j] <= 22  # road distance [km]


def test_bike_and_walk_scale_with_distance(city: City) -> None:
    km = distance_skim(city)
    off = ~np.eye(24, dtype=bool)
    # Same shortest paths by length: time [min] = distance [km] / speed [km/h] * 60.
    np.testing.assert_allclose(skim(city, "walk")[off], km[off] / WALK_KMH * 60, rtol=1e-9)
    np.testing.assert_allclose(skim(city, "bike")[off], km[off] / BIKE_KMH * 60, rtol=1e-9)
    with pytest.raises(ValueError, match="allowed"):
        skim(city, "boat")  # type: ignore[arg-type]
