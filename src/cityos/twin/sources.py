"""Zone statistics for the Sejong twin, each number with its origin and source.

Origins: ``published`` (a number printed in a cited source), ``derived`` (computed from
published numbers by a stated rule) and ``synthetic`` (a plausible assumption written for
CityOS). ``scripts/build_twin_bundle.py`` turns this table into ``data/twin/zones.csv`` and
writes the provenance into ``data/twin/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Origin = Literal["published", "derived", "synthetic"]
ZoneType = Literal["newtown", "jochiwon", "myeon"]

BASE_YEAR = 2024
CITY_POPULATION = 390_000  # derived: see SOURCES["city_total"]

# Age bands [years]: lower bounds; the last band is open ("70+").
AGE_BANDS: tuple[tuple[int, int], ...] = (
    (0, 9),
    (10, 19),
    (20, 29),
    (30, 39),
    (40, 49),
    (50, 59),
    (60, 69),
    (70, 89),
)
HOUSEHOLD_SIZES = (1, 2, 3, 4, 5)  # 5 stands for "5 or more" and is modelled as 5 persons
CAR_CLASSES = (0, 1, 2)  # cars per household; 2 stands for "2 or more"

SOURCES: dict[str, tuple[str, str, str]] = {
    # key: (url, date of the source, what it gives)
    "city_total": (
        "https://www.sjsori.com/news/articleView.html?idxno=59308",
        "2022-08-12",
        "Sejong 380,889 residents at 2022-07; 금남면 8,778 and 소정면 2,220 at 2022-07; "
        "전의면 -1,427 (-20.5 %) and 연동면 -22.1 % from 2012-07 to 2022-07; only 장군면 grew",
    ),
    "wikipedia": (
        "https://en.wikipedia.org/wiki/Sejong_City",
        "read 2025",
        "population 394,630 (infobox); area 465.23 km²",
    ),
    "molit_roads": (
        "http://www.gukjenews.com/news/articleView.html?idxno=1115244",
        "2019",
        "MOLIT road statistics at end-2018: Sejong 402 km of road, the shortest of the 17 "
        "provinces and metropolitan cities (scenarios' road capacity factor 2)",
    ),
    "eupmyeon_2019": (
        "http://www.inews365.com/news/article.html?no=596215",
        "2019-10-10",
        "10 eup/myeon 95,039 residents and 조치원읍 44,994 at 2019-09; 연동면 3,625",
    ),
    "density_2014": (
        "https://joongdo.co.kr/web/view.php?key=20140216000001236",
        "2014-02-16",
        "residents per km² at 2014-01: 부강 249, 소정 187, 연동 145, 연서 144, 금남 132, "
        "전의 115, 장군 104, 전동 74, 연기 67",
    ),
    "report_2017": (
        "https://sedaily.com/NewsView/1RWV1E375X",
        "2018-03-05",
        "2017 resident-registration report: 284,225 residents, 109,490 households (2.60 per "
        "household); one-person households 32.2 % (전동 57.2 %, 장군 56.8 %, 연기 55.1 %); "
        "30s 18.7 %, 40s 18.6 %, 80+ 2.4 %; mean age 36.7",
    ),
    "mean_age_2021": (
        "https://mls.inews365.com/mobile/article.html?no=728691",
        "2022-08-25",
        "Sejong mean age 37.7 at 2021-12 (youngest in Korea); 371,895 residents",
    ),
}


@dataclass(frozen=True)
class ZoneInput:
    """Inputs for one eup/myeon/dong: resident figure, its origin and the modelling profile."""

    code: str
    zone_type: ZoneType
    population: int  # residents, or a weight for new-town dongs (see NEWTOWN_WEIGHTS)
    population_origin: Origin
    population_note: str
    jobs: int  # workplaces in the zone
    university_places: int = 0


# Rural eup/myeon: a figure per zone with its rule. Each note names the SOURCES key.
_RURAL: tuple[ZoneInput, ...] = (
    ZoneInput(
        "36110250",
        "jochiwon",
        42_800,
        "derived",
        "44,994 at 2019-09 [eupmyeon_2019], trend -1 %/yr for 5 years",
        22_000,
        14_000,
    ),
    ZoneInput(
        "36110310",
        "myeon",
        20_500,
        "synthetic",
        "rural part ~2,700 (67/km² [density_2014] x 44.0 km² x 0.92) plus ~17,800 in the "
        "6-living-zone apartments (해밀동, 산울동) inside this legal polygon",
        9_000,
    ),
    ZoneInput(
        "36110320",
        "myeon",
        5_450,
        "synthetic",
        "rural part ~3,450 (3,625 at 2019-09 [eupmyeon_2019], -1 %/yr) plus ~2,000 first "
        "residents of the 5-1 smart city (합강동) inside this legal polygon",
        6_000,
    ),
    ZoneInput(
        "36110330",
        "myeon",
        6_300,
        "derived",
        "249/km² [density_2014] x 27.7 km² = 6,900, less 9 % rural decline",
        6_500,
    ),
    ZoneInput(
        "36110340", "myeon", 8_778, "published", "8,778 at 2022-07 [city_total]", 7_000, 2_000
    ),
    ZoneInput(
        "36110350",
        "myeon",
        7_400,
        "derived",
        "104/km² [density_2014] x 53.7 km² = 5,585, +33 % (the one growing myeon, [city_total])",
        2_500,
    ),
    ZoneInput(
        "36110360",
        "myeon",
        7_000,
        "derived",
        "144/km² [density_2014] x 54.7 km² = 7,877, less 11 % rural decline",
        6_500,
    ),
    ZoneInput(
        "36110370",
        "myeon",
        5_534,
        "derived",
        "1,427 lost = 20.5 % from 2012-07 to 2022-07 [city_total]: 1,427/0.205 - 1,427",
        8_000,
    ),
    ZoneInput(
        "36110380",
        "myeon",
        3_650,
        "derived",
        "74/km² [density_2014] x 57.6 km² = 4,262, less 14 % rural decline",
        3_500,
    ),
    ZoneInput("36110390", "myeon", 2_220, "published", "2,220 at 2022-07 [city_total]", 1_500),
)

# New-town dongs: residents are CITY_POPULATION minus the rural zones, shared out by these
# synthetic weights (apartment stock as CityOS estimates it; published figures are by
# administrative dong, which do not match these legal-dong polygons).
_NEWTOWN: tuple[tuple[str, int, int], ...] = (
    # code, weight, jobs
    ("36110101", 15, 4_000),  # 반곡동 (4-1), Daejeon BRT gateway
    ("36110102", 33, 6_000),  # 소담동
    ("36110103", 20, 9_000),  # 보람동, City Hall
    ("36110104", 11, 5_000),  # 대평동
    ("36110105", 5, 2_500),  # 가람동
    ("36110106", 22, 5_000),  # 한솔동 (첫마을, first village)
    ("36110107", 10, 14_000),  # 나성동, central commercial district
    ("36110108", 25, 5_000),  # 새롬동
    ("36110109", 22, 4_000),  # 다정동
    ("36110110", 6, 24_000),  # 어진동, Government Complex
    ("36110111", 28, 4_000),  # 종촌동
    ("36110112", 34, 4_000),  # 고운동
    ("36110113", 17, 3_000),  # 아름동
    ("36110114", 24, 7_000),  # 도담동, university hospital
)


def zone_inputs() -> tuple[ZoneInput, ...]:
    """Return the 24 zone inputs with new-town residents shared so the city totals 390,000."""
    rural_total = sum(z.population for z in _RURAL)
    remaining = CITY_POPULATION - rural_total
    weights = [w for _, w, _ in _NEWTOWN]
    exact = [remaining * w / sum(weights) for w in weights]
    shares = [int(x) for x in exact]
    # Largest remainder: the rounding stays deterministic and the city total exact.
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: remaining - sum(shares)]:
        shares[i] += 1
    newtown = tuple(
        ZoneInput(
            code,
            "newtown",
            n,
            "synthetic",
            f"city total {CITY_POPULATION:,} less the eup/myeon, weight {w}/{sum(weights)}",
            jobs,
        )
        for (code, w, jobs), n in zip(_NEWTOWN, shares, strict=True)
    )
    return tuple(sorted(newtown + _RURAL, key=lambda z: z.code))


# Profiles by zone type (all synthetic, shaped by [report_2017] and [mean_age_2021]):
# mean household size [persons], household-size shares (1..5+), age-band shares, car shares.
MEAN_HOUSEHOLD_SIZE: dict[str, float] = {"newtown": 2.60, "jochiwon": 2.15, "myeon": 1.85}
HOUSEHOLD_SIZE_SHARES: dict[str, tuple[float, ...]] = {
    "newtown": (0.28, 0.22, 0.20, 0.24, 0.06),
    "jochiwon": (0.42, 0.25, 0.16, 0.13, 0.04),
    "myeon": (0.52, 0.27, 0.10, 0.08, 0.03),
}
AGE_SHARES: dict[str, tuple[float, ...]] = {
    "newtown": (0.15, 0.15, 0.10, 0.18, 0.20, 0.12, 0.07, 0.03),
    "jochiwon": (0.07, 0.09, 0.17, 0.12, 0.13, 0.15, 0.14, 0.13),
    "myeon": (0.05, 0.07, 0.08, 0.09, 0.11, 0.17, 0.20, 0.23),
}
CAR_SHARES: dict[str, tuple[float, ...]] = {
    "newtown": (0.12, 0.62, 0.26),
    "jochiwon": (0.30, 0.55, 0.15),
    "myeon": (0.25, 0.55, 0.20),
}
# Land-use shares of the zone area (residential, commercial, industrial, public, green,
# agriculture_forest), synthetic; special dongs override their type.
LAND_USE_CLASSES = ("residential", "commercial", "industrial", "public", "green", "agri_forest")
LAND_USE_SHARES: dict[str, tuple[float, ...]] = {
    "newtown": (0.36, 0.08, 0.00, 0.14, 0.32, 0.10),
    "jochiwon": (0.28, 0.10, 0.10, 0.10, 0.10, 0.32),
    "myeon": (0.04, 0.01, 0.03, 0.02, 0.05, 0.85),
    "36110110": (0.10, 0.08, 0.00, 0.45, 0.32, 0.05),  # 어진동: Government Complex
    "36110107": (0.28, 0.35, 0.00, 0.10, 0.22, 0.05),  # 나성동: commercial centre
    "36110310": (0.08, 0.02, 0.00, 0.06, 0.24, 0.60),  # 연기면: lake park, 6-living zone
    "36110370": (0.04, 0.01, 0.07, 0.02, 0.05, 0.81),  # 전의면: industrial estates
    "36110330": (0.05, 0.01, 0.07, 0.02, 0.05, 0.80),  # 부강면: industrial estate
}
SCHOOL_PLACE_RATIO = 1.05  # K-12 places per resident aged 6-18 (synthetic slack)
