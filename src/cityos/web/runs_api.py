"""Routes of the scenario page: the twin's runs, their reports and comparisons (staff only).

The page (``GET /scenarios``) is public like the other pages (it holds no data); its data
routes need an operator or admin. A report is the run's own ``report.html``, served with a
policy of its own: ``sandbox`` (no script runs, no access to this origin's cookies or
storage), inline styles and ``data:`` images only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from cityos.identity._routing import IdentityRoute
from cityos.identity.dependencies import StaffUser
from cityos.web import runs as twin_runs

router = APIRouter(tags=["web"], route_class=IdentityRoute)  # 401/403 as bilingual JSON
REPORT_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
)
NO_STORE = {"Cache-Control": "no-store"}


def _root(request: Request) -> Path:
    return Path(request.app.state.settings.twin_runs_dir)


def _missing(name: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": "not_found",
            "detail": f"There is no twin run {name!r} in the runs directory; "
            "GET /web/runs lists them (cityos twin run SCENARIO writes one).",
            "detail_ko": f"실행 디렉터리에 트윈 실행 {name!r}이(가) 없습니다. GET /web/runs가 "
            "목록을 보여 줍니다 (cityos twin run SCENARIO가 실행을 만듭니다).",
        },
        status_code=404,
    )


@router.get("/scenarios", summary="Scenario page (web page)", response_class=HTMLResponse)
def scenarios_page() -> HTMLResponse:
    """Serve the operators' scenario page: the twin's runs, reports and comparisons."""
    from cityos.web.api import _page

    return _page("scenarios.html")


@router.get("/web/runs", summary="The twin's runs (newest first)")
def list_runs(request: Request, _: StaffUser) -> JSONResponse:
    """List the runs in CITYOS_TWIN_RUNS_DIR with their headline KPIs."""
    found = twin_runs.runs(_root(request))
    return JSONResponse([run.summary() for run in found], headers=NO_STORE)


@router.get("/web/runs/compare", summary="Compare two runs' KPIs")
def compare_runs(
    request: Request,
    _: StaffUser,
    a: str = Query(..., description="name of the first run (the reference)"),
    b: str = Query(..., description="name of the second run"),
) -> JSONResponse:
    """Return both runs' KPIs with absolute and % changes (as ``cityos twin compare``)."""
    root = _root(request)
    loaded = []
    for name in (a, b):
        try:
            loaded.append(twin_runs.load(root, name))
        except twin_runs.RunNotFound:
            return _missing(name)
    return JSONResponse(twin_runs.comparison(*loaded), headers=NO_STORE)


@router.get("/web/runs/{name}", summary="One run's KPIs")
def get_run(request: Request, name: str, _: StaffUser) -> JSONResponse:
    """Return one run's summary and its whole kpis.json."""
    try:
        run = twin_runs.load(_root(request), name)
    except twin_runs.RunNotFound:
        return _missing(name)
    return JSONResponse(run.summary() | {"all": run.kpis}, headers=NO_STORE)


@router.get(
    "/web/runs/{name}/report",
    summary="One run's report (HTML)",
    response_class=HTMLResponse,
    responses={404: {}},
)
def run_report(request: Request, name: str, _: StaffUser) -> Response:
    """Serve the run's report.html, sandboxed (no scripts, no access to this origin)."""
    try:
        body = twin_runs.report_bytes(_root(request), name)
    except twin_runs.RunNotFound:
        return _missing(name)
    headers = NO_STORE | {"Content-Security-Policy": REPORT_CSP}
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)
