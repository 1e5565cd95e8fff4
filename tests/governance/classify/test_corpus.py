"""The shipped complaint corpus: size, balance, held-out split, no near-copies, README counts."""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources

import pytest

from cityos.governance.classify.codes import CODES
from cityos.governance.classify.corpus import (
    NEAR_DUPLICATE_JACCARD,
    Complaint,
    CorpusError,
    char_ngrams,
    jaccard,
    load_corpus,
    near_duplicates,
    parse_corpus,
    split,
)


def test_the_corpus_has_at_least_1200_complaints_and_80_per_code() -> None:
    items = load_corpus()
    assert len(items) >= 1200
    per_code = Counter(c.service_code for c in items)
    assert set(per_code) == set(CODES)
    assert min(per_code.values()) >= 80, per_code


def test_every_code_has_a_held_out_test_share_of_about_a_fifth() -> None:
    items = load_corpus()
    test = split(items, "test")
    assert 0.20 <= len(test) / len(items) <= 0.25
    per_code = Counter(c.service_code for c in test)
    assert set(per_code) == set(CODES)
    assert min(per_code.values()) >= 20, per_code


def test_no_two_complaints_are_near_duplicates() -> None:
    pairs = near_duplicates(load_corpus())
    assert not pairs, [(a.id, b.id, round(s, 2)) for a, b, s in pairs[:10]]


def test_no_test_complaint_repeats_a_training_text_word_for_word() -> None:
    items = load_corpus()
    train_texts = {re.sub(r"\s+", "", c.text) for c in split(items, "train")}
    assert not [c.id for c in split(items, "test") if re.sub(r"\s+", "", c.text) in train_texts]


def test_jaccard_of_character_trigrams_by_hand() -> None:
    # "가로등 고장" -> {가로등, 로등 , 등 고, " 고장"}; "가로등 꺼짐" shares only 가로등 and 로등_
    a, b = char_ngrams("가로등 고장"), char_ngrams("가로등  꺼짐")
    assert a == {"가로등", "로등 ", "등 고", " 고장"}
    assert jaccard(a, b) == pytest.approx(2 / 6)
    assert jaccard(a, a) == 1.0


def test_the_near_duplicate_rule_catches_a_copy_with_a_changed_place() -> None:
    text = "한솔동 첫마을 2단지 앞 가로등이 며칠째 안 켜져요 빨리 고쳐주세요"
    items = [
        Complaint("a", text, "streetlight", "train"),
        Complaint("b", text.replace("2단지", "3단지"), "streetlight", "test"),
        Complaint("c", "도담동 공원 벤치가 부서졌어요", "park", "test"),
    ]
    pairs = near_duplicates(items, across_splits_only=True)
    assert [(a.id, b.id) for a, b, _ in pairs] == [("a", "b")]
    assert pairs[0][2] > NEAR_DUPLICATE_JACCARD


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"id": "x", "text": "a", "service_code": "roads", "split": "train"}', "unknown"),
        ('{"id": "x", "text": "a", "service_code": "road", "split": "dev"}', "split"),
        ('{"id": "x", "service_code": "road", "split": "test"}', "not a complaint"),
        ('{"id": "x", "text": " ", "service_code": "road", "split": "test"}', "empty"),
        ("[1, 2]", "not a complaint"),
    ],
)
def test_a_bad_corpus_line_is_refused_with_its_number(line: str, why: str) -> None:
    good = '{"id": "g", "text": "도로 파손", "service_code": "road", "split": "train"}'
    with pytest.raises(CorpusError, match=f"line 2: .*{why}"):
        parse_corpus([good, line])


def test_the_readme_counts_match_the_corpus() -> None:
    readme = resources.files("cityos").joinpath("data/complaints/README.md").read_text("utf-8")
    items = load_corpus()
    for code in CODES:
        train = sum(1 for c in items if c.service_code == code and c.split == "train")
        test = sum(1 for c in items if c.service_code == code and c.split == "test")
        row = rf"\|\s*`{code}`[^|]*\|[^|]*\|\s*{train}\s*\|\s*{test}\s*\|\s*{train + test}\s*\|"
        assert re.search(row, readme), f"README row of {code} should read {train}/{test}"
    assert f"| **total** | | **{len(split(items, 'train'))}** |" in readme
