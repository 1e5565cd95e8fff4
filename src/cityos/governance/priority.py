"""How urgent a complaint is, and why: safety words, school zones, repeated reports.

A pure function of the complaint's text, code, attributes, place and number of supporters.
Points add up; the level is ``normal`` (0–1), ``high`` (2–3) or ``urgent`` (4+). Every
point comes with a reason the operator reads (Korean and English), so the order of the
queue is never a mystery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cityos.governance.places import school_zone_of

# Words that mean someone could be hurt: Korean stems (matched inside words, so 위험하다,
# 위험해요 match 위험) and English words.
SAFETY_WORDS_KO = (
    "위험", "붕괴", "무너", "추락", "감전", "누전", "화재", "불이", "연기", "가스", "싱크홀",
    "땅꺼짐", "낙하", "떨어질", "침수", "다쳤", "다칠", "부상", "사고", "깨진 유리", "전선",
)  # fmt: skip
SAFETY_WORDS_EN = (
    "danger", "dangerous", "collapse", "collapsed", "fall", "falling", "electric", "shock",
    "fire", "smoke", "gas", "sinkhole", "flood", "flooded", "injured", "injury", "accident",
    "hurt", "wire", "wires",
)  # fmt: skip
_EN = re.compile(r"\b(" + "|".join(SAFETY_WORDS_EN) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class Priority:
    """A complaint's priority: points, level and the reasons (bilingual)."""

    points: int
    reasons: tuple[str, ...]

    @property
    def level(self) -> str:
        """Return ``normal``, ``high`` or ``urgent``."""
        if self.points >= 4:
            return "urgent"
        return "high" if self.points >= 2 else "normal"

    @property
    def explanation(self) -> str:
        """Return the reasons as one line for the operator."""
        if not self.reasons:
            return "보통: 특별한 위험 요소 없음 / normal: no risk factor found"
        return "; ".join(self.reasons)


def safety_words(text: str) -> list[str]:
    """Return the safety words found in ``text`` (Korean stems and English words)."""
    found = [w for w in SAFETY_WORDS_KO if w in text]
    found += sorted({m.group(1).lower() for m in _EN.finditer(text)})
    return found


def assess(
    *,
    description: str | None,
    service_code: str,
    attributes: dict[str, object],
    lat: float | None,
    lon: float | None,
    supporters: int,
) -> Priority:
    """Return the priority of a complaint and the reasons for it."""
    points = 0
    reasons: list[str] = []
    words = safety_words(description or "")
    if words:
        points += 2
        shown = ", ".join(words[:5])
        reasons.append(f"+2 안전 관련 표현({shown}) / safety words ({shown})")
    if attributes.get("hazard") == "yes":
        points += 2
        reasons.append("+2 신고자가 즉시 위험을 표시함 / the reporter marked an immediate hazard")
    if service_code == "safety":
        points += 1
        reasons.append("+1 안전·재난 위험 유형 / safety and disaster risk type")
    if lat is not None and lon is not None:
        school = school_zone_of(lat, lon)
        if school is not None:
            points += 1
            reasons.append(
                f"+1 어린이보호구역({school.name_ko} 300 m 이내) / "
                f"school zone (within 300 m of {school.name_en})"
            )
    if supporters >= 5:
        points += 2
        reasons.append(f"+2 같은 문제 신고 {supporters + 1}건 / {supporters + 1} reports of it")
    elif supporters >= 1:
        points += 1
        reasons.append(f"+1 같은 문제 신고 {supporters + 1}건 / {supporters + 1} reports of it")
    return Priority(points, tuple(reasons))
