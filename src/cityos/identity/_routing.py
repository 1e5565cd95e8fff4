"""How the identity routes answer: bilingual JSON errors (never a 500, never the input echoed)
and the one form reader the token and login endpoints share."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse

from cityos.identity.errors import IdentityError, InvalidInput, MalformedRequest
from cityos.identity.models import Principal

MAX_FORM_BYTES = 8 * 1024


def identity_error_response(exc: IdentityError) -> JSONResponse:
    """Return the JSON response for an identity error (status, headers, bilingual body)."""
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


class IdentityRoute(APIRoute):
    """A route whose identity errors and invalid input become bilingual JSON, never a 500."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler so IdentityError and RequestValidationError are rendered here."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except IdentityError as exc:
                return identity_error_response(exc)
            except RequestValidationError as exc:
                # Only where and what: never echo the input back (it may hold a password).
                problems = [
                    {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type")}
                    for e in exc.errors()
                ]
                body = InvalidInput(
                    "The request is not valid; see 'errors'.",
                    "요청이 올바르지 않습니다. 'errors'를 확인하세요.",
                ).body()
                return JSONResponse(body | {"errors": problems}, status_code=422)

        return guarded


async def read_form(request: Request) -> dict[str, str]:
    """Read an ``application/x-www-form-urlencoded`` body (each field at most once)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise MalformedRequest(
            "Send the form as application/x-www-form-urlencoded.",
            "양식은 application/x-www-form-urlencoded 형식으로 보내세요.",
        )
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            raise MalformedRequest("The form is too large.", "양식이 너무 큽니다.")
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRequest("The form cannot be read.", "양식을 읽을 수 없습니다.") from exc
    if any(len(values) > 1 for values in fields.values()):
        raise MalformedRequest(
            "Each form field may appear only once.", "양식의 각 항목은 한 번만 보낼 수 있습니다."
        )
    return {name: values[0] for name, values in fields.items()}


def user_only(principal: Principal) -> str:
    """Return the caller's user id, or refuse (422) an API key: this is for people."""
    if principal.kind != "user":
        raise InvalidInput(
            "This is for a person's account, not an API key.",
            "API 키가 아닌 사용자 계정에서만 할 수 있습니다.",
        )
    return principal.id
