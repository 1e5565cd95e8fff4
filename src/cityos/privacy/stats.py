"""Statistics for open data from personal data: counts of people per cell, k-anonymous.

A cell (a district, an age band, an hour …) counted from fewer than ``k`` distinct people
is suppressed, never published, so no published number singles out a small group (k ≥ 5,
the Korean pseudonymisation guideline's usual minimum; Sweeney 2002, "k-anonymity").
Pure functions: they take pairs and return counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

MIN_CELL_SIZE = 5
Cell = TypeVar("Cell", bound=Hashable)


@dataclass(frozen=True)
class KAnonymousCounts(Generic[Cell]):
    """Published counts (each ≥ k) and the cells withheld because they were smaller.

    No total is given: with one, a single suppressed cell could be recovered by subtraction.
    """

    k: int
    counts: dict[Cell, int]
    suppressed: frozenset[Cell]


def k_anonymous_counts(
    observations: Iterable[tuple[Cell, Hashable]], *, k: int = MIN_CELL_SIZE
) -> KAnonymousCounts[Cell]:
    """Count distinct people per cell from ``(cell, person)`` pairs; suppress cells below k.

    ``person`` is any stable id (use a pseudonym); a person seen twice in a cell counts once.
    """
    if k < MIN_CELL_SIZE:
        raise ValueError(f"k must be at least {MIN_CELL_SIZE} (got {k})")
    people: dict[Cell, set[Hashable]] = defaultdict(set)
    for cell, person in observations:
        people[cell].add(person)
    counts = {cell: len(who) for cell, who in people.items() if len(who) >= k}
    suppressed = frozenset(cell for cell, who in people.items() if len(who) < k)
    return KAnonymousCounts(k=k, counts=counts, suppressed=suppressed)
