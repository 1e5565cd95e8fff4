"""The hand-drawn Sejong road and transit plan the twin bundle is built from.

Every position here is approximate: CityOS places junctions and stops where the published
district, living zone and road descriptions put them, not from a survey. The inner-ring BRT
road is drawn through the new-town living zones and then scaled about its centroid so that
its length is the published 22.9 km (see ``cityos.twin.bundle``). Road attributes come from
``ROAD_CLASSES``; line headways and speeds are synthetic unless marked otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

RING_LENGTH_M = 22_900.0  # published: inner-ring BRT road, 22.9 km, opened 2016 (DESIGN.md)


@dataclass(frozen=True)
class RoadClass:
    """Per-direction attributes of a road class (synthetic, HCM-style values)."""

    lanes: int
    capacity_per_lane: int  # [veh/h/lane]: ~1,900 base saturation flow x green ratio
    free_flow_kmh: float  # uncongested speed including signal delay [km/h]
    circuity: float  # road length / straight-line length between drawn points [-]
    brt_lanes: int = 0


ROAD_CLASSES: dict[str, RoadClass] = {
    "brt_ring": RoadClass(3, 950, 42.0, 1.0, brt_lanes=1),
    "urban_arterial": RoadClass(2, 900, 36.0, 1.15),
    "national_road": RoadClass(2, 1_700, 58.0, 1.3),
    "rural_road": RoadClass(1, 1_200, 50.0, 1.3),
    "local_street": RoadClass(1, 700, 28.0, 1.2),
    "connector": RoadClass(1, 9_999, 24.0, 1.3),
}

# Ring stations clockwise from the Government Complex (lat, lon) [deg]: drawn, approximate.
RING_STATIONS: tuple[tuple[str, str, str, float, float], ...] = (
    ("R01", "정부세종청사", "Government Complex", 36.5035, 127.2625),
    ("R02", "도담동", "Dodam-dong", 36.5150, 127.2640),
    ("R03", "6생활권 해밀", "Living zone 6 (Haemil)", 36.5270, 127.2720),
    ("R04", "6생활권 산울", "Living zone 6 (Sanul)", 36.5310, 127.2860),
    ("R05", "5생활권 합강", "Living zone 5 (Hapgang)", 36.5330, 127.3060),
    ("R06", "5생활권 남부", "Living zone 5 south", 36.5180, 127.3170),
    ("R07", "4생활권 집현", "Living zone 4 (Jiphyeon)", 36.5040, 127.3230),
    ("R08", "반곡동", "Bangok-dong", 36.4920, 127.3150),
    ("R09", "소담동", "Sodam-dong", 36.4830, 127.3030),
    ("R10", "세종시청", "Sejong City Hall", 36.4790, 127.2900),
    ("R11", "대평동", "Daepyeong-dong", 36.4720, 127.2770),
    ("R12", "한솔동", "Hansol-dong", 36.4790, 127.2600),
    ("R13", "나성동", "Naseong-dong", 36.4880, 127.2620),
)

# Other junctions (id, ko, en, lat, lon, kind). kind "external" marks gateways outside Sejong.
JUNCTIONS: tuple[tuple[str, str, str, float, float, str], ...] = (
    ("J_CJW", "조치원 도심", "Jochiwon centre", 36.6010, 127.2960, "junction"),
    ("J_CJW_N", "조치원 북부", "Jochiwon north", 36.6200, 127.2920, "junction"),
    ("J_CJW_S", "조치원 남부", "Jochiwon south", 36.5850, 127.2900, "junction"),
    ("J_YS", "연서 교차로", "Yeonseo junction", 36.5650, 127.2800, "junction"),
    ("J_YG", "연기 교차로", "Yeongi junction", 36.5450, 127.2780, "junction"),
    ("J_JU", "전의면 소재지", "Jeonui-myeon centre", 36.6780, 127.1980, "junction"),
    ("J_SJ", "소정면 소재지", "Sojeong-myeon centre", 36.7180, 127.1500, "junction"),
    ("J_JD", "전동면 소재지", "Jeondong-myeon centre", 36.6500, 127.2450, "junction"),
    ("J_YD", "연동면 소재지", "Yeondong-myeon centre", 36.5500, 127.3300, "junction"),
    ("J_BG", "부강면 소재지", "Bugang-myeon centre", 36.5270, 127.3750, "junction"),
    ("J_GN", "금남면 대평리", "Geumnam-myeon (Daepyeong-ri)", 36.4620, 127.2830, "junction"),
    ("J_GN_S", "금남면 남부", "Geumnam-myeon south", 36.4300, 127.2750, "junction"),
    ("J_JG", "장군면 소재지", "Janggun-myeon centre", 36.5050, 127.2050, "junction"),
    ("J_YSW", "연서면 서부", "Yeonseo-myeon west", 36.5850, 127.2350, "junction"),
    ("N_GOUN", "고운동", "Goun-dong", 36.5160, 127.2370, "junction"),
    ("N_AREUM", "아름동", "Areum-dong", 36.5170, 127.2500, "junction"),
    ("N_JONGCHON", "종촌동", "Jongchon-dong", 36.5030, 127.2480, "junction"),
    ("N_DAJEONG", "다정동", "Dajeong-dong", 36.4940, 127.2460, "junction"),
    ("N_SAEROM", "새롬동", "Saerom-dong", 36.4850, 127.2500, "junction"),
    ("N_GARAM", "가람동", "Garam-dong", 36.4700, 127.2470, "junction"),
    ("X_OSONG", "오송역 (청주)", "Osong Station (Cheongju)", 36.6203, 127.3270, "external"),
    ("X_BANSEOK", "반석역 (대전)", "Banseok Station (Daejeon)", 36.3920, 127.3150, "external"),
    ("X_GONGJU", "공주 방면", "towards Gongju", 36.4700, 127.1500, "external"),
    ("X_CHEONAN", "천안 방면", "towards Cheonan", 36.7400, 127.1700, "external"),
)

# Two-way roads: (from, to, class, ko, en). Ring segments are added by the builder.
ROADS: tuple[tuple[str, str, str, str, str], ...] = (
    # National road 1 corridor: Jochiwon - Yeonseo - Yeongi - living zone 6 (approximate).
    ("J_CJW", "J_CJW_S", "urban_arterial", "조치원 세종로", "Sejong-ro, Jochiwon"),
    ("J_CJW", "J_CJW_N", "urban_arterial", "조치원 북부 간선", "Jochiwon north arterial"),
    ("J_CJW_S", "J_YS", "national_road", "국도1호선", "National Road 1"),
    ("J_YS", "J_YG", "national_road", "국도1호선", "National Road 1"),
    ("J_YG", "R03", "national_road", "국도1호선", "National Road 1"),
    ("J_CJW_N", "J_JD", "rural_road", "전동 방면 지방도", "provincial road to Jeondong"),
    ("J_CJW_N", "J_JU", "national_road", "국도1호선 (전의)", "National Road 1 (Jeonui)"),
    ("J_JU", "J_SJ", "rural_road", "소정 방면 지방도", "provincial road to Sojeong"),
    ("J_SJ", "X_CHEONAN", "national_road", "국도1호선 (천안)", "National Road 1 (Cheonan)"),
    ("J_JD", "J_JU", "rural_road", "전동-전의 지방도", "Jeondong-Jeonui road"),
    ("J_CJW_S", "J_YD", "rural_road", "조치원-연동 지방도", "Jochiwon-Yeondong road"),
    ("J_YS", "J_YSW", "rural_road", "연서 서부 지방도", "Yeonseo west road"),
    ("J_YSW", "J_JG", "rural_road", "연서-장군 지방도", "Yeonseo-Janggun road"),
    ("J_YD", "R05", "urban_arterial", "합강 연결도로", "Hapgang link"),
    ("J_YD", "J_BG", "rural_road", "연동-부강 지방도", "Yeondong-Bugang road"),
    ("J_BG", "R07", "urban_arterial", "부강-4생활권 도로", "Bugang-living zone 4 road"),
    ("J_CJW_N", "X_OSONG", "national_road", "오송 방면", "towards Osong"),
    ("X_OSONG", "R05", "national_road", "오송-세종 BRT 도로", "Osong-Sejong BRT road"),
    ("R08", "X_BANSEOK", "national_road", "대전-세종 BRT 도로", "Daejeon-Sejong BRT road"),
    ("R11", "J_GN", "urban_arterial", "금남교", "Geumnam bridge"),
    ("J_GN", "J_GN_S", "rural_road", "금남 남부 지방도", "Geumnam south road"),
    ("J_GN_S", "X_BANSEOK", "national_road", "대전 방면 국도", "national road to Daejeon"),
    ("J_JG", "X_GONGJU", "national_road", "공주 방면 국도", "national road to Gongju"),
    ("J_JG", "N_GOUN", "urban_arterial", "장군-고운 도로", "Janggun-Goun road"),
    ("J_JG", "N_GARAM", "rural_road", "장군-가람 도로", "Janggun-Garam road"),
    # New-town streets west of the ring (1-2 living zones), approximate.
    ("N_GOUN", "N_AREUM", "urban_arterial", "고운-아름 간선", "Goun-Areum arterial"),
    ("N_AREUM", "R02", "urban_arterial", "아름-도담 간선", "Areum-Dodam arterial"),
    ("N_AREUM", "N_JONGCHON", "local_street", "아름-종촌 도로", "Areum-Jongchon street"),
    ("N_GOUN", "N_JONGCHON", "local_street", "고운-종촌 도로", "Goun-Jongchon street"),
    ("N_JONGCHON", "R01", "urban_arterial", "종촌-청사 간선", "Jongchon-Government arterial"),
    ("N_JONGCHON", "N_DAJEONG", "urban_arterial", "종촌-다정 간선", "Jongchon-Dajeong arterial"),
    ("N_DAJEONG", "N_SAEROM", "urban_arterial", "다정-새롬 간선", "Dajeong-Saerom arterial"),
    ("N_DAJEONG", "R13", "local_street", "다정-나성 도로", "Dajeong-Naseong street"),
    ("N_SAEROM", "R13", "urban_arterial", "새롬-나성 간선", "Saerom-Naseong arterial"),
    ("N_SAEROM", "N_GARAM", "urban_arterial", "새롬-가람 간선", "Saerom-Garam arterial"),
    ("N_GARAM", "R12", "urban_arterial", "가람-한솔 간선", "Garam-Hansol arterial"),
    ("R01", "R13", "urban_arterial", "청사-나성 내부도로", "Government-Naseong inner road"),
)


@dataclass(frozen=True)
class LinePlan:
    """A transit line: waypoints (node ids) the route follows and its service (synthetic)."""

    line_id: str
    name_ko: str
    name_en: str
    mode: str  # "brt" or "bus"
    waypoints: tuple[str, ...]
    headway_peak_min: float
    headway_offpeak_min: float
    speed_kmh: float  # commercial speed including dwell [km/h]
    origin: str
    note: str
    both_ways: bool = True  # also run the reversed path (direction 1)


_RING = tuple(s[0] for s in RING_STATIONS)
LINES: tuple[LinePlan, ...] = (
    LinePlan(
        "BRT-CW",
        "BRT 내부순환 (시계방향)",
        "BRT inner ring (clockwise)",
        "brt",
        (*_RING, _RING[0]),
        5,
        10,
        32,
        "synthetic",
        "runs the inner-ring BRT lanes; stops at every ring station",
        both_ways=False,
    ),
    LinePlan(
        "BRT-CCW",
        "BRT 내부순환 (반시계방향)",
        "BRT inner ring (counter-clockwise)",
        "brt",
        (_RING[0], *reversed(_RING)),
        5,
        10,
        32,
        "synthetic",
        "runs the inner-ring BRT lanes; stops at every ring station",
        both_ways=False,
    ),
    LinePlan(
        "B1",
        "B1 오송역-반석역",
        "B1 Osong Station-Banseok Station",
        "brt",
        (
            "X_OSONG",
            "R05",
            "R04",
            "R03",
            "R02",
            "R01",
            "R13",
            "R12",
            "R11",
            "R10",
            "R09",
            "R08",
            "X_BANSEOK",
        ),
        8,
        15,
        34,
        "synthetic",
        "modelled on the published B1 trunk line (Osong KTX - Government Complex - Daejeon "
        "Banseok); path, stops and headways are CityOS estimates",
    ),
    LinePlan(
        "BUS-JCW",
        "조치원-정부청사 간선버스",
        "Jochiwon-Government Complex trunk bus",
        "bus",
        ("J_CJW_N", "J_CJW", "J_CJW_S", "J_YS", "J_YG", "R03", "R02", "R01"),
        15,
        30,
        26,
        "synthetic",
        "links the old town to the new town along National Road 1",
    ),
    LinePlan(
        "BUS-JU",
        "전의-조치원 버스",
        "Jeonui-Jochiwon bus",
        "bus",
        ("J_SJ", "J_JU", "J_CJW_N", "J_CJW"),
        30,
        60,
        30,
        "synthetic",
        "northern myeon",
    ),
    LinePlan(
        "BUS-JD",
        "전동-조치원 버스",
        "Jeondong-Jochiwon bus",
        "bus",
        ("J_JD", "J_CJW_N", "J_CJW"),
        40,
        80,
        28,
        "synthetic",
        "northern myeon",
    ),
    LinePlan(
        "BUS-BG",
        "부강-연동-5생활권 버스",
        "Bugang-Yeondong-living zone 5 bus",
        "bus",
        ("J_BG", "J_YD", "R05"),
        30,
        60,
        30,
        "synthetic",
        "eastern myeon",
    ),
    LinePlan(
        "BUS-YD",
        "연동-조치원 버스",
        "Yeondong-Jochiwon bus",
        "bus",
        ("J_YD", "J_CJW_S", "J_CJW"),
        40,
        80,
        28,
        "synthetic",
        "eastern myeon",
    ),
    LinePlan(
        "BUS-GN",
        "금남-대평 버스",
        "Geumnam-Daepyeong bus",
        "bus",
        ("J_GN_S", "J_GN", "R11"),
        20,
        40,
        28,
        "synthetic",
        "southern myeon",
    ),
    LinePlan(
        "BUS-JG",
        "장군-고운-청사 버스",
        "Janggun-Goun-Government bus",
        "bus",
        ("J_JG", "N_GOUN", "N_AREUM", "R02", "R01"),
        20,
        40,
        24,
        "synthetic",
        "western myeon and living zone 1",
    ),
    LinePlan(
        "BUS-YS",
        "연서-조치원 버스",
        "Yeonseo-Jochiwon bus",
        "bus",
        ("J_YSW", "J_YS", "J_CJW_S", "J_CJW"),
        40,
        80,
        28,
        "synthetic",
        "Yeonseo-myeon",
    ),
    LinePlan(
        "BUS-W",
        "1-2생활권 지선버스",
        "Living zones 1-2 feeder bus",
        "bus",
        ("N_GOUN", "N_JONGCHON", "N_DAJEONG", "N_SAEROM", "N_GARAM", "R12", "R11"),
        10,
        20,
        20,
        "synthetic",
        "feeds the western dongs to the ring",
    ),
)

# Synthetic facility counts per kind: (kind, ko suffix, en suffix, per residents, minimum).
FACILITY_RATES: tuple[tuple[str, str, str, int, int], ...] = (
    ("school", "초·중·고등학교", "school", 4_000, 1),
    ("park", "근린공원", "neighbourhood park", 6_000, 1),
    ("shop", "상점가", "shopping street", 8_000, 1),
    ("parking", "공영주차장", "public car park", 7_000, 1),
    ("culture", "문화센터", "culture centre", 40_000, 0),
    ("fire_station", "119안전센터", "fire safety centre", 60_000, 0),
    ("hospital", "병원", "hospital", 50_000, 0),
)
