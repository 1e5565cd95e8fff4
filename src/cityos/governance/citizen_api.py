"""``/complaints``: what the citizen app asks while a complaint is being written.

- ``POST /complaints/suggest``: the service code the classifier suggests for a description,
  with its Korean and English names, the confidence and the runners-up, so the app can
  propose a type as the citizen types (the same classifier automatic routing uses).
- ``POST /complaints/duplicates``: the open complaints a new one would repeat — the same
  rule the POST applies (same code, ≤ 100 m, ≤ 7 days, similar text) — so the app can offer
  a +1 before filing instead of after a 409.

Both are public (they show nothing ``GET /open311/v2/requests`` does not) and, like every
route, under the app's rate limits (docs/security.md). Errors are Open311 error lists.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from cityos.governance import documents, intake, service
from cityos.governance._http import Open311Route, read_fields
from cityos.governance.api import classifier_of, now_of
from cityos.governance.catalog import BY_CODE
from cityos.governance.errors import BadRequest, Unavailable
from cityos.governance.render import respond
from cityos.governance.routing import suggest
from cityos.identity.dependencies import engine_for

router = APIRouter(prefix="/complaints", tags=["complaints"], route_class=Open311Route)
MAX_DUPLICATES = 5


def _single(fields: dict[str, str | list[str]], name: str) -> str | None:
    value = intake.single(fields, name)
    return value if isinstance(value, str) else None


def _names(code: str) -> dict[str, str]:
    found = BY_CODE[code]
    return {"service_name_ko": found.name_ko, "service_name_en": found.name_en}


@router.post("/suggest", summary="Suggest a service code for a description")
async def suggest_code(request: Request) -> Response:
    """Return the classifier's service code for ``description`` (JSON or form)."""
    fields = await read_fields(request)
    text = intake.text_field("description", _single(fields, "description"), intake.MAX_DESCRIPTION)
    if text is None:
        raise BadRequest(
            "Send description: the text of the complaint to suggest a service code for.",
            "description(민원 내용)을 보내세요. 그 내용으로 유형을 추천합니다.",
        )
    classifier = classifier_of(request)
    if classifier is None:
        raise Unavailable(
            "Automatic routing is not installed here; choose the service code yourself "
            "(GET /open311/v2/services.json).",
            "이 서버에는 자동 분류가 설치되어 있지 않습니다. 유형을 직접 고르세요.",
        )
    try:
        found = await run_in_threadpool(suggest, text, classifier)
    except ValueError as error:  # the classifier's own refusal (ClassifyError)
        raise BadRequest(str(error), str(error)) from None
    if found is None:
        raise BadRequest(
            "No service code could be suggested for this description; choose one.",
            "이 내용으로는 유형을 추천하지 못했습니다. 유형을 직접 고르세요.",
        )
    answer: dict[str, Any] = {
        "service_code": found.service_code,
        **_names(found.service_code),
        "department": found.department,
        "confidence": round(found.confidence, 3),
        "alternatives": [
            {"service_code": code, **_names(code), "confidence": round(score, 3)}
            for code, score in found.alternatives
        ],
    }
    return respond("json", "suggestion", answer)


@router.post("/duplicates", summary="Open complaints a new one would repeat")
async def find_duplicates(request: Request) -> Response:
    """Return open complaints of the code near ``lat``/``long`` with similar text (≤ 5)."""
    fields = await read_fields(request)
    code = intake.service_code(_single(fields, "service_code"))
    if code is None:
        raise BadRequest(
            "Send service_code: duplicates are complaints of the same type.",
            "service_code를 보내세요. 같은 유형의 민원만 중복으로 봅니다.",
        )
    flat = {n: v for n in ("lat", "long") if (v := _single(fields, n)) is not None}
    if not flat.get("lat", "").strip() or not flat.get("long", "").strip():
        raise BadRequest(
            "Send lat and long: duplicates are found by place (within 100 m).",
            "lat과 long을 보내세요. 중복 민원은 위치(100 m 이내)로 찾습니다.",
        )
    lat, lon, _ = intake.location(flat)
    description = intake.text_field(
        "description", _single(fields, "description"), intake.MAX_DESCRIPTION
    )
    new = intake.NewRequest(
        service_code=code.code, description=description, lat=lat, lon=lon, address_string=None
    )
    now, base = now_of(request), str(request.base_url)

    def find() -> list[dict[str, Any]]:
        with engine_for(request.app).connect() as connection:
            found = service.find_duplicates(
                connection, new=new, service=code, now=now, limit=MAX_DUPLICATES
            )
            answers = []
            for duplicate in found:
                row = service.get(connection, request_id=duplicate.request_id)
                entry = documents.request(row, service.service_of(row), base)
                entry["distance_m"] = round(duplicate.distance_m)
                entry["similarity"] = round(duplicate.similarity, 2)
                answers.append(entry)
        return answers

    return respond("json", "service_requests", await run_in_threadpool(find))
