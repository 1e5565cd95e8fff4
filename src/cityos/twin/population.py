"""Synthetic households and persons for every zone, fitted to the zone totals by IPF.

Per zone: household sizes are tilted to the zone's mean size and integerised to its household
count, then adjusted so the persons add up exactly to its residents; cars per household come
from IPF of a size x cars seed table; persons' age bands come from IPF of an age x size seed
table whose size margin is the persons living in each household size. Statuses, car access
and work/school zones follow. One seeded ``numpy.random.Generator`` drives everything, and
persons are whole arrays (Mesa style), not objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from cityos.twin import sources as src
from cityos.twin.city import City
from cityos.twin.ipf import integerise, ipf, tilt_to_mean
from cityos.twin.skims import road_skim

NONE, EMPLOYED, PUPIL, UNIVERSITY = 0, 1, 2, 3  # person status codes
SIZES = np.array(src.HOUSEHOLD_SIZES, dtype=np.int64)
CARS = np.array(src.CAR_CLASSES, dtype=np.int64)
BAND_LO = np.array([b[0] for b in src.AGE_BANDS], dtype=np.int64)
BAND_HI = np.array([b[1] for b in src.AGE_BANDS], dtype=np.int64)

# Seed association tables (synthetic): relative propensities, fitted away by IPF where the
# margins disagree. Rows: household size 1..5+; columns: 0, 1, 2+ cars.
SIZE_CAR_SEED = np.array(
    [
        [0.40, 0.55, 0.05],
        [0.15, 0.65, 0.20],
        [0.10, 0.60, 0.30],
        [0.08, 0.55, 0.37],
        [0.08, 0.52, 0.40],
    ]
)
# Rows: age bands 0-9 .. 70+; columns: household size 1..5+. No child lives alone.
AGE_SIZE_SEED = np.array(
    [
        [0.00, 0.02, 0.20, 0.30, 0.30],
        [0.01, 0.04, 0.18, 0.28, 0.30],
        [0.30, 0.14, 0.10, 0.06, 0.06],
        [0.22, 0.18, 0.22, 0.18, 0.14],
        [0.12, 0.12, 0.16, 0.17, 0.14],
        [0.12, 0.20, 0.08, 0.01, 0.03],
        [0.10, 0.18, 0.04, 0.00, 0.02],
        [0.13, 0.12, 0.02, 0.00, 0.01],
    ]
)


@dataclass(frozen=True)
class PopulationParams:
    """Behavioural parameters of the synthetic population (synthetic, checked on creation)."""

    seed: int = 42
    scale: float = 1.0  # share of the residents to synthesise [-]
    work_beta_per_min: float = 0.08  # gravity decay for the workplace [1/min]
    school_beta_per_min: float = 0.25  # gravity decay for the school [1/min]
    university_beta_per_min: float = 0.03  # gravity decay for the university [1/min]
    university_share_19_24: float = 0.45  # share of 19-24 year-olds at university [-]
    employment_19_24: float = 0.40  # employed share of the others aged 19-24 [-]
    employment_25_59: float = 0.74  # [-]
    employment_60_64: float = 0.55  # [-]
    employment_65_plus: float = 0.28  # [-]
    licence_age: int = 18  # [years]

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 4:
            raise ValueError("scale must be in (0, 4]")
        for name in ("work_beta_per_min", "school_beta_per_min", "university_beta_per_min"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 [1/min]")
        for name in (
            "university_share_19_24",
            "employment_19_24",
            "employment_25_59",
            "employment_60_64",
            "employment_65_plus",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a share in [0, 1]")
        if not 16 <= self.licence_age <= 25:
            raise ValueError("licence_age must be in 16..25 [years]")


@dataclass(frozen=True)
class Population:
    """Households and persons as arrays; persons are grouped by household."""

    household_zone: NDArray[np.int16]  # zone index
    household_size: NDArray[np.int8]  # [persons]
    household_cars: NDArray[np.int8]  # [vehicles]
    household_first: NDArray[np.int32]  # index of the household's first person
    person_household: NDArray[np.int32]
    person_zone: NDArray[np.int16]  # home zone index
    age: NDArray[np.int8]  # [years]
    status: NDArray[np.int8]  # NONE, EMPLOYED, PUPIL, UNIVERSITY
    car_access: NDArray[np.bool_]
    work_zone: NDArray[np.int16]  # zone index, -1 when not employed
    school_zone: NDArray[np.int16]  # zone index, -1 when not in education
    nbytes: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "nbytes",
            sum(getattr(self, k).nbytes for k in self.__dataclass_fields__ if k != "nbytes"),
        )


def household_sizes(
    mean_size: float,
    households: int,
    persons: int,
    shares: tuple[float, ...],
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """Return households per size 1..5+ summing to ``households`` and holding ``persons``."""
    p = tilt_to_mean(np.asarray(shares), SIZES.astype(float), mean_size)
    counts = integerise(p, households, rng)
    diff = persons - int(counts @ SIZES)
    while diff != 0:  # a few single moves: each shifts one household by one person
        if diff > 0:
            k = int(np.argmax(np.where(SIZES[:-1] > 0, counts[:-1], -1)))
            counts[k], counts[k + 1], diff = counts[k] - 1, counts[k + 1] + 1, diff - 1
        else:
            k = 1 + int(np.argmax(counts[1:]))
            counts[k], counts[k - 1], diff = counts[k] - 1, counts[k - 1] + 1, diff + 1
    return counts


def _zone_people(
    ztype: str, pop: int, hh: int, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Return (sizes, cars) per household and (ages, household offsets) of the zone's persons."""
    h_s = household_sizes(pop / hh, hh, pop, src.HOUSEHOLD_SIZE_SHARES[ztype], rng)
    car_margin = hh * np.asarray(src.CAR_SHARES[ztype])
    fit = ipf(SIZE_CAR_SEED, [h_s.astype(float), car_margin]).table
    size_car = np.stack([integerise(fit[s], int(h_s[s]), rng) for s in range(len(SIZES))])
    hh_size = np.repeat(SIZES, h_s)
    hh_cars = np.concatenate(
        [rng.permutation(np.repeat(CARS, size_car[s])) for s in range(len(SIZES))]
    )
    persons_by_size = (h_s * SIZES).astype(float)
    age_margin = pop * np.asarray(src.AGE_SHARES[ztype])
    fit = ipf(AGE_SIZE_SEED, [age_margin, persons_by_size]).table
    age_size = np.stack(
        [integerise(fit[:, s], int(persons_by_size[s]), rng) for s in range(len(SIZES))], axis=1
    )
    hh_start = np.concatenate([[0], np.cumsum(h_s)[:-1]])
    ages_out, hh_out = [], []
    for s, size in enumerate(SIZES):
        bands = np.repeat(np.arange(len(BAND_LO)), age_size[:, s])
        ages = rng.integers(BAND_LO[bands], BAND_HI[bands] + 1)
        ids = hh_start[s] + np.arange(h_s[s])
        order = rng.permutation(len(ages))
        ages = ages[order]
        adult = ages >= 20
        # One head per household: adults first (shuffled), then the oldest of the rest.
        rank = np.lexsort((-ages, ~adult))
        heads, rest = ages[rank[: h_s[s]]], ages[rank[h_s[s] :]]
        ages_out += [heads, rng.permutation(rest)]
        hh_out += [ids, np.repeat(ids, size - 1)]
    ages = np.concatenate(ages_out)
    owner = np.concatenate(hh_out)
    order = np.argsort(owner, kind="stable")
    return hh_size, hh_cars, ages[order], owner[order]


def _destinations(
    home: NDArray[np.int16],
    weights: NDArray[np.float64],
    times: NDArray[np.float64],
    beta: float,
    rng: np.random.Generator,
) -> NDArray[np.int16]:
    """Sample one destination zone per person, P(j|i) ~ weights_j exp(-beta t_ij) (gravity)."""
    util = weights[None, :] * np.exp(-beta * times)
    util[:, weights <= 0] = 0.0
    cum = np.cumsum(util / util.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(home))
    picks = (u[:, None] > cum[home]).sum(axis=1)
    return np.minimum(picks, len(weights) - 1).astype(np.int16)


def build_population(city: City, params: PopulationParams | None = None) -> Population:
    """Return the synthetic population of ``city``: zone totals met exactly at scale 1."""
    params = params or PopulationParams()
    rng = np.random.default_rng(params.seed)
    z = city.zones
    parts = []
    for i in range(len(z)):
        pop = round(int(z.population[i]) * params.scale)
        hh = max(1, round(int(z.households[i]) * params.scale))
        parts.append(_zone_people(z.zone_type[i], pop, hh, rng))
    h_offset = np.cumsum([0] + [len(p[0]) for p in parts])[:-1]
    hh_zone = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(parts)])
    hh_size = np.concatenate([p[0] for p in parts])
    hh_cars = np.concatenate([p[1] for p in parts])
    age = np.concatenate([p[2] for p in parts])
    person_hh = np.concatenate([p[3] + off for p, off in zip(parts, h_offset, strict=True)])
    person_zone = hh_zone[person_hh]
    first = np.concatenate([[0], np.cumsum(hh_size)[:-1]])

    status = np.full(len(age), NONE, dtype=np.int8)
    u = rng.random(len(age))
    status[(age >= 6) & (age <= 18)] = PUPIL
    young = (age >= 19) & (age <= 24)
    status[young & (u < params.university_share_19_24)] = UNIVERSITY
    rest = (u - params.university_share_19_24) / (1 - params.university_share_19_24)
    status[young & (u >= params.university_share_19_24) & (rest < params.employment_19_24)] = (
        EMPLOYED
    )
    for lo, hi, rate in (
        (25, 59, params.employment_25_59),
        (60, 64, params.employment_60_64),
        (65, 200, params.employment_65_plus),
    ):
        status[(age >= lo) & (age <= hi) & (u < rate)] = EMPLOYED

    adult = (age >= params.licence_age).astype(np.int64)
    csum = np.cumsum(adult)
    before = csum[first] - adult[first]  # adults before each household
    ordinal = csum - 1 - before[person_hh]
    car_access = (adult == 1) & (ordinal < hh_cars[person_hh])

    car_t = road_skim(city)
    work = np.full(len(age), -1, dtype=np.int16)
    school = np.full(len(age), -1, dtype=np.int16)
    for code, beta, weights, target in (
        (EMPLOYED, params.work_beta_per_min, z.jobs, work),
        (PUPIL, params.school_beta_per_min, z.school_places, school),
        (UNIVERSITY, params.university_beta_per_min, z.university_places, school),
    ):
        who = np.flatnonzero(status == code)
        target[who] = _destinations(person_zone[who], weights.astype(float), car_t, beta, rng)
    return Population(
        household_zone=hh_zone.astype(np.int16),
        household_size=hh_size.astype(np.int8),
        household_cars=hh_cars.astype(np.int8),
        household_first=first.astype(np.int32),
        person_household=person_hh.astype(np.int32),
        person_zone=person_zone.astype(np.int16),
        age=age.astype(np.int8),
        status=status,
        car_access=car_access,
        work_zone=work,
        school_zone=school,
    )
