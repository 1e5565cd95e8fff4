"""Where @context documents come from: shipped files, local files and the network."""

from __future__ import annotations

import threading
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import orjson

from cityos.hub.errors import LdContextNotAvailable
from cityos.security import outbound

CONTEXTS_DIR = files("cityos") / "data" / "contexts"
CORE_CONTEXT_FILE = "etsi/ngsi-ld-core-context-v1.9.jsonld"
CITYOS_CONTEXT_URL = "https://w3id.org/cityos/cityos-context.jsonld"

_CORE_BASE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context"
# The v1.9 file stands for every core context URL: each version only adds terms.
CORE_CONTEXT_URLS = frozenset(
    url
    for scheme_url in (_CORE_BASE, _CORE_BASE.replace("https:", "http:", 1))
    for url in (
        f"{scheme_url}.jsonld",
        *(f"{scheme_url}-v1.{minor}.jsonld" for minor in range(3, 10)),
    )
)
_ETSI_SUITE = (
    "https://forge.etsi.org/rep/cim/ngsi-ld-test-suite/-/raw/develop/resources/jsonld-contexts/"
)
SMART_DATA_MODEL_DOMAINS = (
    "Environment",
    "GreenEnergy",
    "IssueTracking",
    "Parking",
    "Streetlighting",
    "Transportation",
    "WasteManagement",
    "Weather",
)


def _builtin_files() -> dict[str, str]:
    table = {url: CORE_CONTEXT_FILE for url in CORE_CONTEXT_URLS}
    table[f"{_ETSI_SUITE}ngsi-ld-test-suite.jsonld"] = "etsi/ngsi-ld-test-suite.jsonld"
    table[f"{_ETSI_SUITE}ngsi-ld-test-suite-compound.jsonld"] = (
        "etsi/ngsi-ld-test-suite-compound.jsonld"
    )
    for domain in SMART_DATA_MODEL_DOMAINS:
        path = f"smart-data-models/dataModel.{domain}.context.jsonld"
        table[
            f"https://raw.githubusercontent.com/smart-data-models/dataModel.{domain}"
            "/master/context.jsonld"
        ] = path
        table[f"https://smart-data-models.github.io/dataModel.{domain}/context.jsonld"] = path
    table[CITYOS_CONTEXT_URL] = "cityos-context.jsonld"
    return table


# URL -> file under cityos/data/contexts, for every context the hub resolves offline.
BUILTIN_CONTEXT_FILES: dict[str, str] = _builtin_files()


def context_of_document(document: Any, source: str) -> Any:
    """Return the ``@context`` value of a JSON-LD context document."""
    if not isinstance(document, dict) or "@context" not in document:
        raise LdContextNotAvailable(
            f"{source} is not a JSON-LD context (no @context member)"
            f" / {source}은(는) JSON-LD 컨텍스트가 아닙니다(@context 멤버가 없습니다)"
        )
    context = document["@context"]
    if context is not None and not isinstance(context, dict | list | str):
        raise LdContextNotAvailable(
            f"{source} is not a JSON-LD context (bad @context member)"
            f" / {source}은(는) JSON-LD 컨텍스트가 아닙니다(@context 멤버가 잘못되었습니다)"
        )
    return context


def read_builtin(relative: str) -> Any:
    """Return the ``@context`` value of a shipped context file."""
    data = (CONTEXTS_DIR / relative).read_bytes()
    return context_of_document(orjson.loads(data), f"built-in context {relative}")


def read_file(url: str, path: Path) -> Any:
    """Return the ``@context`` value of a configured local file standing for ``url``."""
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as error:
        raise LdContextNotAvailable(
            f"@context {url}: cannot read {path}: {error}"
            f" / @context {url}: {path}을(를) 읽을 수 없습니다: {error}"
        ) from None
    except orjson.JSONDecodeError as error:
        raise LdContextNotAvailable(
            f"@context {url}: {path} is not JSON: {error}"
            f" / @context {url}: {path}이(가) JSON이 아닙니다: {error}"
        ) from None
    return context_of_document(document, f"@context {url} (file {path})")


class ContextFetcher:
    """Fetch remote context documents over HTTP(S) within a hard deadline."""

    def __init__(
        self,
        timeout: float,
        *,
        max_bytes: int = 1024 * 1024,
        transport: httpx.BaseTransport | None = None,
        policy: outbound.OutboundPolicy | None = None,
    ) -> None:
        self.timeout = timeout
        # A request's @context URL is the caller's say-so: no internal addresses (SSRF),
        # checked on every request, redirects included (cityos.security.outbound).
        self.policy = policy
        self.max_bytes = max_bytes
        self._transport = transport
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def fetch(self, url: str) -> Any:
        """Return the ``@context`` value of the document at ``url``, or raise 503."""
        if not url.startswith(("https://", "http://")):
            raise LdContextNotAvailable(
                f"@context {url} is not an http(s) URL the hub can fetch"
                f" / @context {url}은(는) 허브가 가져올 수 있는 http(s) URL이 아닙니다"
            )
        deadline = time.monotonic() + self.timeout
        try:
            with self._http().stream("GET", url) as response:
                if response.status_code != 200:
                    raise LdContextNotAvailable(
                        f"@context {url} could not be retrieved: HTTP {response.status_code}"
                        f" / @context {url}을(를) 가져오지 못했습니다: HTTP "
                        f"{response.status_code}"
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise LdContextNotAvailable(
                            f"@context {url} is larger than {self.max_bytes} bytes"
                            f" / @context {url}이(가) {self.max_bytes}바이트보다 큽니다"
                        )
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("deadline passed while reading")
        except httpx.TimeoutException:
            raise LdContextNotAvailable(
                f"@context {url} could not be retrieved within {self.timeout:g} s"
                f" / @context {url}을(를) {self.timeout:g}초 안에 가져오지 못했습니다"
            ) from None
        except httpx.HTTPError as error:
            raise LdContextNotAvailable(
                f"@context {url} could not be retrieved: {error}"
                f" / @context {url}을(를) 가져오지 못했습니다: {error}"
            ) from None
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise LdContextNotAvailable(
                f"@context {url} is not JSON / @context {url}이(가) JSON이 아닙니다"
            ) from None
        return context_of_document(document, f"@context {url}")

    def _check(self, request: httpx.Request) -> None:
        """Refuse a request (or a redirect) to an internal address, before it is sent."""
        if self.policy is None:
            return
        try:
            outbound.resolve_checked(str(request.url), self.policy, name="@context")
        except outbound.UnsafeTarget as error:
            raise LdContextNotAvailable(
                f"@context {str(request.url)[:200]} is not fetched: {error.detail} / "
                f"@context {str(request.url)[:200]}을(를) 가져오지 않습니다: {error.detail_ko}"
            ) from None

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    event_hooks={"request": [self._check]},
                    timeout=httpx.Timeout(self.timeout),
                    follow_redirects=True,
                    max_redirects=5,
                    headers={"Accept": "application/ld+json, application/json;q=0.9"},
                    transport=self._transport,
                )
            return self._client
