"""How complaint routes answer: Open311 error lists, never a 500 for bad input; the caller.

:class:`Open311Route` turns :class:`~cityos.governance.errors.ComplaintError` (and a request
FastAPI could not read) into an error list in the format the URL asked for. :func:`caller`
finds who posts: an Open311 ``api_key`` (a key made by ``cityos keys create``) and/or a
citizen's login (bearer token or session cookie).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from cityos.governance.errors import BadRequest, ComplaintError, Forbidden
from cityos.governance.render import FORMATS, error_list
from cityos.identity import cookies, keys
from cityos.identity.dependencies import authenticate, identity_context
from cityos.identity.errors import IdentityError
from cityos.identity.models import Principal

MAX_FORM_BYTES = 64 * 1024


def format_of(request: Request) -> str:
    """Return the format the URL names (``json`` unless it ends in ``.xml``)."""
    fmt = request.path_params.get("fmt")
    if fmt is None:
        return "xml" if request.url.path.endswith(".xml") else "json"
    return str(fmt) if fmt in FORMATS else "json"


def check_format(request: Request) -> str:
    """Return the URL's format, refusing (400) one other than .json or .xml."""
    fmt = request.path_params.get("fmt")
    if fmt not in FORMATS:
        raise BadRequest(
            f"Unknown format {str(fmt)[:10]!r}: end the URL with .json or .xml.",
            f"알 수 없는 형식 {str(fmt)[:10]!r}입니다. URL 끝에 .json 또는 .xml을 붙이세요.",
        )
    return str(fmt)


class Open311Route(APIRoute):
    """A route whose errors are Open311 error lists in the URL's format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler so complaint and validation errors are rendered here."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except ComplaintError as exc:
                return error_list(format_of(request), exc.status, exc.description, exc.headers)
            except RequestValidationError:
                error = BadRequest(
                    "The request cannot be read; check its parameters.",
                    "요청을 읽을 수 없습니다. 매개변수를 확인하세요.",
                )
                return error_list(format_of(request), 400, error.description)

        return guarded


async def read_fields(request: Request) -> dict[str, str | list[str]]:
    """Read a POST body: a form (Open311) or a JSON object; repeated form fields become lists."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            raise BadRequest(
                f"The request body is over {MAX_FORM_BYTES // 1024} KiB; send photos to "
                "POST /open311/v2/media/{id}.",
                f"요청 본문이 {MAX_FORM_BYTES // 1024} KiB를 넘습니다. 사진은 "
                "POST /open311/v2/media/{id}로 보내세요.",
            )
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8.", "본문이 UTF-8이 아닙니다.") from None
    if kind == "application/json":
        try:
            body = orjson.loads(text) if text.strip() else {}
        except orjson.JSONDecodeError:
            raise BadRequest(
                "The body is not valid JSON.", "본문이 올바른 JSON이 아닙니다."
            ) from None
        if not isinstance(body, dict):
            raise BadRequest("Send a JSON object.", "JSON 객체를 보내세요.")
        out: dict[str, str | list[str]] = {}
        for key, value in body.items():
            if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
                out[str(key)] = [str(v) for v in value]
            elif isinstance(value, str | int | float) and not isinstance(value, bool):
                out[str(key)] = str(value)
            elif value is not None:
                raise BadRequest(
                    f"Field {str(key)[:40]!r} must be text or a number.",
                    f"{str(key)[:40]!r} 항목은 텍스트나 숫자여야 합니다.",
                )
        return out
    if kind not in ("application/x-www-form-urlencoded", ""):
        raise BadRequest(
            "Send the request as application/x-www-form-urlencoded (Open311) or JSON.",
            "요청은 application/x-www-form-urlencoded(Open311) 또는 JSON으로 보내세요.",
        )
    try:
        parsed = parse_qs(text, keep_blank_values=True, max_num_fields=100)
    except ValueError:
        raise BadRequest("The form cannot be read.", "양식을 읽을 수 없습니다.") from None
    return {k: (v[0] if len(v) == 1 and not k.endswith("[]") else v) for k, v in parsed.items()}


@dataclass(frozen=True)
class Caller:
    """Who posts: a citizen's account, an API key, or both (an app posting for a citizen)."""

    user: Principal | None
    key: Principal | None

    @property
    def actor(self) -> str:
        """Return the audit name of the caller (the person before the key)."""
        return (self.user or self.key).actor  # type: ignore[union-attr]


def _refused(error: IdentityError) -> Forbidden:
    return Forbidden(error.detail, error.detail_ko)


async def user_of(request: Request) -> Principal | None:
    """Return the logged-in person (bearer token or session cookie), or None."""
    identity = identity_context(request)
    try:
        credentials = cookies.credentials_of(request.method, request.headers, request.cookies)
        principal, _ = await run_in_threadpool(
            authenticate, identity, authorization=credentials.authorization, api_key=None
        )
        if principal is not None:
            cookies.check_csrf_binding(credentials, principal, identity.settings.secret_key)
    except IdentityError as error:
        raise _refused(error) from None
    return principal


async def caller(request: Request, api_key: str | None) -> Caller:
    """Return who is posting, or refuse (403) a request with neither a valid key nor a login."""
    identity = identity_context(request)
    key_text = api_key or request.headers.get("x-api-key")
    key: Principal | None = None
    if key_text:

        def check() -> Principal:
            with identity.engine.begin() as connection:
                return keys.principal_for_api_key(connection, key=key_text, now=identity.now)

        try:
            key = await run_in_threadpool(check)
        except IdentityError as error:
            raise Forbidden(
                f"api_key: {error.detail} Ask an administrator for one (cityos keys create).",
                f"api_key: {error.detail_ko} 관리자에게 발급을 요청하세요(cityos keys create).",
            ) from None
    user = await user_of(request)
    if user is not None and user.kind != "user":
        user = None
    if key is None and user is None:
        raise Forbidden(
            "Posting a request needs an api_key (made by `cityos keys create`) or a citizen login.",
            "요청을 올리려면 api_key(`cityos keys create`로 발급) 또는 시민 로그인이 필요합니다.",
        )
    return Caller(user=user, key=key)
