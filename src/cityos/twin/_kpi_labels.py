"""The twin's KPI names in Korean and English, with units and formats.

Kept apart from the report (which needs numpy, numba and the whole twin) so that the web
app's scenario page can label KPIs without importing the twin into every server.
"""

from __future__ import annotations

# key -> (Korean, English, unit, format)
KPI_LABELS: dict[str, tuple[str, str, str, str]] = {
    "population": ("인구", "population", "persons", "{:,.0f}"),
    "trips": ("통행", "trips", "trips/day", "{:,.0f}"),
    "private_cars": ("자가용", "private cars", "vehicles", "{:,.0f}"),
    "shared_vehicles": ("공유 셔틀", "shared vehicles", "vehicles", "{:,.0f}"),
    "vehicle_km": ("차량 주행거리", "vehicle-km", "km/day", "{:,.0f}"),
    "mean_travel_time_min": ("평균 통행시간", "mean travel time", "min", "{:.1f}"),
    "p95_travel_time_min": ("95% 통행시간", "p95 travel time", "min", "{:.1f}"),
    "mean_commute_time_min": ("평균 통근시간", "mean commute time", "min", "{:.1f}"),
    "mean_commute_time_freeflow_min": (
        "평균 통근시간 (자동차 자유통행 가정)",
        "mean commute time, cars at free flow",
        "min",
        "{:.1f}",
    ),
    "mean_cost_krw_per_trip": ("통행당 평균 비용", "mean cost per trip", "KRW", "{:,.0f}"),
    "mode_share.car": ("분담률: 자가용", "mode share: car", "%", "pct"),
    "mode_share.shared": ("분담률: 공유 셔틀", "mode share: shared", "%", "pct"),
    "mode_share.transit": ("분담률: BRT·버스", "mode share: transit", "%", "pct"),
    "mode_share.bike": ("분담률: 자전거", "mode share: bike", "%", "pct"),
    "mode_share.walk": ("분담률: 도보", "mode share: walk", "%", "pct"),
    "mean_car_time_min": ("자가용 평균 통행시간", "mean car time", "min", "{:.1f}"),
    "mean_car_freeflow_min": ("자가용 자유통행 시간", "car free-flow time", "min", "{:.1f}"),
    "congestion_delay_veh_h": ("혼잡 지체", "congestion delay", "veh-h/day", "{:,.0f}"),
    "cars_unfinished": (
        "다음날 06시까지 미도착 차량",
        "cars not arrived by 06:00 next day",
        "veh",
        "{:,.0f}",
    ),
    "parking_spaces_needed": ("필요 주차면", "parking spaces needed", "spaces", "{:,.0f}"),
    "illegal_parking_peak": (
        "공급 초과 주차 (최대)",
        "cars beyond supply, peak hour",
        "veh",
        "{:,.0f}",
    ),
    "drt_requests": ("셔틀 요청", "shuttle requests", "requests", "{:,.0f}"),
    "drt_rejection_rate": ("셔틀 거절률", "shuttle rejection rate", "%", "pct"),
    "drt_mean_wait_min": ("셔틀 평균 대기", "shuttle mean wait", "min", "{:.1f}"),
    "drt_p95_wait_min": ("셔틀 95% 대기", "shuttle p95 wait", "min", "{:.1f}"),
    "drt_mean_in_vehicle_min": ("셔틀 평균 탑승시간", "shuttle mean in-vehicle", "min", "{:.1f}"),
    "co2_t": ("CO2 배출", "CO2", "t/day", "{:,.1f}"),
    "pm10_kg": ("PM10 배출", "PM10", "kg/day", "{:,.1f}"),
    "runtime_s": ("실행 시간", "run time", "s", "{:.1f}"),
}
