"""Counting: plurality and instant-runoff checked against counts worked by hand."""

from __future__ import annotations

from cityos.governance.polls.tally import instant_runoff, plurality

A, B, C, D = 1, 2, 3, 4


def test_instant_runoff_transfers_the_eliminated_options_ballots() -> None:
    """Hand count: 4×ABC, 3×BCA, 2×CBA (9 ballots, majority = 5).

    Round 1: A 4, B 3, C 2 — no majority; C has the fewest and is eliminated.
    Round 2: C's 2 ballots go to their next choice, B: A 4, B 5 — B wins (5 > 4.5),
    although A led on first preferences (plurality would have chosen A).
    """
    ballots = [[A, B, C]] * 4 + [[B, C, A]] * 3 + [[C, B, A]] * 2
    result = instant_runoff([A, B, C], ballots)
    assert [r.counts for r in result.rounds] == [{A: 4, B: 3, C: 2}, {A: 4, B: 5}]
    assert [r.eliminated for r in result.rounds] == [C, None]
    assert result.winner == B
    assert plurality([A, B, C], [b[:1] for b in ballots]) == {A: 4, B: 3, C: 2}


def test_instant_runoff_counts_exhausted_ballots_out_of_the_majority() -> None:
    """Hand count: 3×A, 2×BA, 2×C, 1×DC (8 ballots; some rank only one option).

    Round 1: A 3, B 2, C 2, D 1 — D eliminated; its ballot goes to C.
    Round 2: A 3, B 2, C 3 — no option has more than 4; B eliminated; its 2 go to A.
    Round 3: A 5, C 3 — A wins. No ballot exhausted (every one still names A or C).
    """
    ballots = [[A]] * 3 + [[B, A]] * 2 + [[C]] * 2 + [[D, C]]
    result = instant_runoff([A, B, C, D], ballots)
    assert [r.counts for r in result.rounds] == [
        {A: 3, B: 2, C: 2, D: 1},
        {A: 3, B: 2, C: 3},
        {A: 5, C: 3},
    ]
    assert [r.eliminated for r in result.rounds] == [D, B, None]
    assert result.winner == A


def test_a_ballot_is_exhausted_when_all_its_options_are_out() -> None:
    """Hand count: 2×A, 2×B, 1×C (C ranks nothing else).

    Round 1: A 2, B 2, C 1 — C out; its ballot is exhausted (1).
    Round 2: A 2, B 2 of 4 live ballots — a tie, no winner.
    """
    ballots = [[A], [A], [B], [B], [C]]
    result = instant_runoff([A, B, C], ballots)
    assert result.rounds[1].exhausted == 1
    assert result.winner is None
    assert result.tied == [A, B]


def test_a_tie_for_last_place_eliminates_the_option_with_fewer_first_preferences() -> None:
    """Hand count: 3×A, 2×BC, 2×CB, 1×DB.

    Round 1: A 3, B 2, C 2, D 1 — D out, its ballot to B.
    Round 2: A 3, B 3, C 2 — C out; its two ballots to B.
    Round 3: A 3, B 5 — B wins.
    And a genuine last-place tie in round 1 (B 2, C 2 with A 4): both have 2 first
    preferences, so the later option in the poll's list (C) goes first.
    """
    result = instant_runoff([A, B, C, D], [[A]] * 3 + [[B, C]] * 2 + [[C, B]] * 2 + [[D, B]])
    assert [r.eliminated for r in result.rounds] == [D, C, None]
    assert result.winner == B
    tie = instant_runoff([A, B, C], [[A]] * 4 + [[B, A]] * 2 + [[C, B]] * 2)
    assert tie.rounds[0].eliminated == C
    assert tie.rounds[1].counts == {A: 4, B: 4}
    assert tie.winner is None


def test_no_ballots_means_no_winner() -> None:
    result = instant_runoff([A, B], [])
    assert result.winner is None
    assert result.tied == []
    assert result.rounds[0].counts == {A: 0, B: 0}


def test_plurality_counts_each_named_option_once_per_ballot() -> None:
    assert plurality([A, B, C], [[A, B], [B], [B, C], [A, A]]) == {A: 2, B: 3, C: 1}
