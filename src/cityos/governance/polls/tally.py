"""Counting ballots: plurality counts and instant-runoff voting (pure functions).

Instant-runoff (IRV, the "alternative vote"): each round counts every ballot for its
highest-ranked option still in the race; an option with more than half of the ballots
still counting wins; otherwise the option with the fewest votes is eliminated and its
ballots pass to their next choice. A ballot whose options are all eliminated is
*exhausted* and no longer counts towards the majority. Ties for last place are broken by
fewer first-round votes, then by the later position in the poll's option list (documented
in docs/governance/polls-and-proposals.md); if every remaining option has the same number of
votes, the poll is a tie. Reference: Reilly, B. (2001) *Democracy in Divided Societies*,
ch. 2; FairVote's description of RCV tabulation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Round:
    """One IRV round: votes per continuing option, exhausted ballots, who was eliminated."""

    number: int
    counts: dict[int, int]
    exhausted: int
    eliminated: int | None


@dataclass(frozen=True)
class RunoffResult:
    """The rounds of an instant-runoff count, and its winner (None on a tie or no ballots)."""

    rounds: list[Round]
    winner: int | None
    tied: list[int] = field(default_factory=list)


def plurality(option_ids: Sequence[int], ballots: Sequence[Sequence[int]]) -> dict[int, int]:
    """Return how many ballots name each option (multiple choice: each named option counts)."""
    counts = dict.fromkeys(option_ids, 0)
    for ballot in ballots:
        for choice in set(ballot):
            if choice in counts:
                counts[choice] += 1
    return counts


def instant_runoff(option_ids: Sequence[int], ballots: Sequence[Sequence[int]]) -> RunoffResult:
    """Count ranked ballots by instant-runoff; ``option_ids`` in the poll's order."""
    continuing = list(option_ids)
    position = {option: i for i, option in enumerate(option_ids)}
    first_round: dict[int, int] = {}
    rounds: list[Round] = []
    while continuing:
        counts = dict.fromkeys(continuing, 0)
        exhausted = 0
        for ballot in ballots:
            top = next((choice for choice in ballot if choice in counts), None)
            if top is None:
                exhausted += 1
            else:
                counts[top] += 1
        if not first_round:
            first_round = dict(counts)
        live = sum(counts.values())
        leader = max(continuing, key=lambda o: (counts[o], -position[o]))
        if live and counts[leader] * 2 > live:
            rounds.append(Round(len(rounds) + 1, counts, exhausted, None))
            return RunoffResult(rounds, leader)
        if live == 0 or len(set(counts.values())) == 1:
            rounds.append(Round(len(rounds) + 1, counts, exhausted, None))
            return RunoffResult(rounds, None, tied=list(continuing) if live else [])
        loser = min(continuing, key=lambda o: (counts[o], first_round.get(o, 0), -position[o]))
        rounds.append(Round(len(rounds) + 1, counts, exhausted, loser))
        continuing.remove(loser)
    return RunoffResult(rounds, None)  # pragma: no cover - the loop always returns
