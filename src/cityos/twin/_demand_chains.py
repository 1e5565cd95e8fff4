"""Daily activity chains: patterns per person, stop locations and departure minutes.

All persons are processed at once per chain position (at most five trips a day), so the
loops run over positions, never over persons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cityos.twin._demand_choice import destination_probabilities, sample_from_table
from cityos.twin.behaviour import ACTIVITIES, DEPARTURE_KINDS, PERSON_GROUPS, Behaviour
from cityos.twin.population import EMPLOYED, PUPIL, UNIVERSITY, Population

HOME, WORK, EDUCATION, SHOP, LEISURE = range(5)  # purpose codes (activity at the destination)
MAX_SLOTS = 6  # activities a day, home to home
_KIND = {k: i for i, k in enumerate(DEPARTURE_KINDS)}
_RESAMPLE_ROUNDS = 4


@dataclass(frozen=True)
class Chains:
    """One row per person: activity codes and zones per slot (-1 past the chain's end)."""

    activity: NDArray[np.int8]  # (persons, MAX_SLOTS)
    zone: NDArray[np.int16]  # (persons, MAX_SLOTS)
    n_trips: NDArray[np.int8]  # (persons,)


def person_groups(pop: Population, senior_age: int) -> NDArray[np.int8]:
    """Return each person's group index into ``PERSON_GROUPS``."""
    g = np.full(len(pop.age), PERSON_GROUPS.index("adult"), dtype=np.int8)
    g[pop.age < 19] = PERSON_GROUPS.index("child")
    g[pop.age >= senior_age] = PERSON_GROUPS.index("senior")
    g[pop.status == EMPLOYED] = PERSON_GROUPS.index("worker")
    g[pop.status == PUPIL] = PERSON_GROUPS.index("pupil")
    g[pop.status == UNIVERSITY] = PERSON_GROUPS.index("university")
    return g


def pattern_table(beh: Behaviour) -> tuple[list[str], NDArray[np.float64]]:
    """Return the distinct patterns and the (groups, patterns) share table."""
    pats = sorted({p for g in PERSON_GROUPS for p in beh.activities.patterns[g]})
    table = np.array(
        [[beh.activities.patterns[g].get(p, 0.0) for p in pats] for g in PERSON_GROUPS]
    )
    return pats, table


def zone_attraction(
    features: dict[str, NDArray[np.float64]], weights: dict[str, float]
) -> NDArray[np.float64]:
    """Return A_j = sum_f w_f x_fj over the named zone features [-]."""
    missing = set(weights) - set(features)
    if missing:
        raise ValueError(f"unknown zone features {sorted(missing)}; allowed: {sorted(features)}")
    return np.sum([w * features[f] for f, w in weights.items()], axis=0)


def build_chains(
    pop: Population,
    beh: Behaviour,
    attraction: dict[str, NDArray[np.float64]],
    ref_time: NDArray[np.float64],
    rng: np.random.Generator,
) -> Chains:
    """Draw a pattern per person and place its stops (logit destination choice).

    ``attraction`` maps "shop" and "leisure" to per-zone A_j; ``ref_time`` [min] is
    (2, zones, zones): the transit skim for persons without a car, the car skim with one.
    """
    pats, table = pattern_table(beh)
    groups = person_groups(pop, beh.activities.senior_age)
    pick = sample_from_table(table, groups, rng)
    codes = np.full((len(pats), MAX_SLOTS), -1, dtype=np.int8)
    for i, p in enumerate(pats):
        codes[i, : len(p)] = [ACTIVITIES.index(a) for a in p]
    act = codes[pick]
    n_trips = (act >= 0).sum(axis=1).astype(np.int8) - 1

    n_z = ref_time.shape[1]
    d = beh.destination
    probs = np.concatenate(
        [
            destination_probabilities(attraction[purpose], ref_time[c], beta)
            for purpose, beta in (
                ("shop", d.shop_beta_per_min),
                ("leisure", d.leisure_beta_per_min),
            )
            for c in (0, 1)
        ]
    )  # rows: (purpose, car class, origin)
    car_class = pop.car_access.astype(np.int64)
    zone = np.full(act.shape, -1, dtype=np.int16)
    fixed = {HOME: pop.person_zone, WORK: pop.work_zone, EDUCATION: pop.school_zone}
    for slot in range(MAX_SLOTS):
        a = act[:, slot]
        for code, where in fixed.items():
            zone[a == code, slot] = where[a == code]
        stop = np.flatnonzero((a == SHOP) | (a == LEISURE))
        if len(stop):
            purpose = (a[stop] == LEISURE).astype(np.int64)
            rows = (purpose * 2 + car_class[stop]) * n_z + zone[stop, slot - 1]
            zone[stop, slot] = sample_from_table(probs, rows, rng)
    if np.any(zone[act >= 0] < 0):
        raise ValueError("a chain visits work or education without a work or school zone")
    return Chains(activity=act, zone=zone, n_trips=n_trips)


def departure_minutes(
    chains: Chains,
    pop: Population,
    beh: Behaviour,
    ref_time: NDArray[np.float64],
    rng: np.random.Generator,
) -> NDArray[np.int16]:
    """Return (persons, MAX_SLOTS - 1) departure minutes of the day (-1 for no trip).

    First departures follow the configured profile of their purpose; later ones leave
    after the previous activity: at a sampled time of the "back"/"evening" profile no
    earlier than the minimum stay (re-drawn a few times, then clamped), or after a drawn
    stop duration at shopping and leisure stops.
    """
    act, zone = chains.activity, chains.zone
    n = len(act)
    prof = np.stack([beh.departures[k].shares for k in DEPARTURE_KINDS])
    bin_min = 1440 // prof.shape[1]
    out = np.full((n, MAX_SLOTS - 1), -1, dtype=np.int16)
    car_class = pop.car_access.astype(np.int64)
    pupil = pop.status == PUPIL
    arrive = np.zeros(n)
    ab = beh.activities
    for k in range(MAX_SLOTS - 1):
        live = np.flatnonzero(chains.n_trips > k)
        if not len(live):
            break
        a_from, a_to = act[live, k], act[live, k + 1]
        kind = np.full(len(live), -1, dtype=np.int64)
        earliest = arrive[live].copy()
        if k == 0:
            kind[:] = _KIND["errand_out"]
            kind[a_to == WORK] = _KIND["work_out"]
            edu = a_to == EDUCATION
            kind[edu] = np.where(pupil[live[edu]], _KIND["school_out"], _KIND["university_out"])
        else:
            home = a_from == HOME
            kind[home] = _KIND["evening_out"]
            earliest[home] += ab.min_home_gap_min
            work = a_from == WORK
            kind[work] = _KIND["work_back"]
            earliest[work] += ab.min_work_min
            edu = a_from == EDUCATION
            kind[edu] = np.where(pupil[live[edu]], _KIND["school_back"], _KIND["university_back"])
            earliest[edu] += ab.min_education_min
            for code, (lo, hi) in ((SHOP, ab.shop_min), (LEISURE, ab.leisure_min)):
                m = a_from == code
                earliest[m] += rng.uniform(lo, hi, int(m.sum()))
        dep = earliest.copy()
        drawn = np.flatnonzero(kind >= 0)
        todo = drawn
        for _ in range(_RESAMPLE_ROUNDS + 1):
            if not len(todo):
                break
            b = sample_from_table(prof, kind[todo], rng)
            dep[todo] = b * bin_min + rng.integers(0, bin_min, len(todo))
            todo = todo[dep[todo] < earliest[todo]]
        dep[drawn] = np.maximum(dep[drawn], earliest[drawn])
        dep = np.clip(np.floor(dep), 0, 1439)
        out[live, k] = dep.astype(np.int16)
        arrive[live] = dep + ref_time[car_class[live], zone[live, k], zone[live, k + 1]]
    return out
