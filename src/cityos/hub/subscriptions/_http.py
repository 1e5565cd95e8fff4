"""A lean HTTP/1.1 client for notifications: POST over kept-alive asyncio connections.

Why not httpx: a write fanned out to 100 subscriptions is 100 POSTs, and httpx/httpcore
spent about 1 ms of the event loop on each (two socket writes, a ``getpeername`` and a
readability ``select`` per request, anyio and cancel-scope layers; ``py-spy`` of
``benchmarks/subscription_bench.py --case fanout``). Here a request is one ``write`` of
head and body on an :class:`asyncio.Protocol`, and the answer is parsed by ``httptools``
(llhttp, the parser uvicorn uses) in C. A connection the server closed is known from
``connection_lost`` before it is reused; one closed just as a request went out is retried
once on a new connection (the receiver may then see the notification twice, with the same
``id``: the delivery is at least once anyway).

Supported: ``http`` and ``https`` (verified with the system's CA certificates), any path
and query, ``user:password@`` in the URI as Basic authentication, answers with a
``Content-Length``, chunked or ended by closing the connection. Not supported: proxies,
redirects (a 3xx is a refusal), HTTP/2.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote, urlsplit

import httptools

USER_AGENT = b"CityOS-notifier/1"
ANSWER_KEPT = 1024  # [bytes] of an answer's body kept for the error message


class HttpError(Exception):
    """The request could not be made or the answer could not be read; ``str()`` gives the
    reason in English and Korean (it becomes a subscription's ``lastErrorReason``)."""

    def __init__(self, reason: str, reason_ko: str) -> None:
        super().__init__(f"{reason} / {reason_ko}")
        self.reason = reason
        self.reason_ko = reason_ko


class _Stale(HttpError):
    """A reused connection was closed before any answer came: retry on a new one."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URI points: the origin's parts and the request head's fixed lines."""

    scheme: str
    host: str
    port: int
    path: bytes  # the request target: path and query
    head: bytes  # the Host line, and Authorization when the URI has user info

    @classmethod
    def parse(cls, uri: str) -> Target:
        """Return the target of an ``http``/``https`` URI; raise HttpError if it is not one."""
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"not an http(s) URL: {uri!r}", f"http(s) URL이 아닙니다: {uri!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise HttpError(
                f"invalid port in {uri!r}", f"{uri!r}의 포트가 잘못되었습니다"
            ) from None
        host = parts.hostname
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        shown = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            shown = f"{shown}:{port}"
        head = b"Host: " + shown.encode("ascii") + b"\r\n"
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            head += b"Authorization: Basic " + base64.b64encode(pair.encode()) + b"\r\n"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, host, port, path.encode(), head)


def request_head(target: Target, headers: dict[str, str], length: int) -> bytes:
    """Return the head of a POST of ``length`` body bytes; raise HttpError on a bad header."""
    lines = [b"POST ", target.path, b" HTTP/1.1\r\n", target.head]
    for name, value in headers.items():
        if any(c in name or c in value for c in "\r\n\0") or ":" in name or not name:
            raise HttpError(f"invalid header {name!r}", f"잘못된 헤더 {name!r}")
        lines += [name.encode(), b": ", value.encode(), b"\r\n"]
    lines += [b"User-Agent: ", USER_AGENT, b"\r\nContent-Length: ", str(length).encode()]
    lines.append(b"\r\n\r\n")
    return b"".join(lines)


class Connection(asyncio.Protocol):
    """One kept-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = False  # it carried a request before (a close may have raced this one)
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._status = 0
        self._body = bytearray()
        self._answered = False  # bytes of the current answer arrived
        self._keep = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # no isinstance check: uvloop's transports (``cityos up``) are not asyncio.Transport
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(HttpError("the server switched protocols", "서버가 프로토콜을 바꿨습니다"))
        except httptools.HttpParserError as error:
            self._fail(HttpError(f"malformed answer: {error}", "응답 형식이 잘못되었습니다"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._status and not self._parser.should_keep_alive():
            self._finish()  # an answer delimited by the end of the connection
        elif not self._answered and self.used:
            self._fail(
                _Stale(
                    "the server closed the kept-alive connection",
                    "서버가 유지 중인 연결을 닫았습니다",
                )
            )
        else:
            closed = exc or "EOF"
            self._fail(
                HttpError(
                    f"connection closed before the answer: {closed}",
                    f"응답 전에 연결이 닫혔습니다: {closed}",
                )
            )

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        if len(self._body) < ANSWER_KEPT:
            self._body += body[: ANSWER_KEPT - len(self._body)]

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
            self._status = 0
            return
        self._keep = self._parser.should_keep_alive()
        self._finish()

    # requests
    def _finish(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._status, bytes(self._body)))

    def _fail(self, error: HttpError) -> None:
        self._keep = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        if self.transport is not None:
            self.transport.abort()

    async def exchange(self, data: bytes) -> tuple[int, bytes]:
        """Send one request; return the answer's status and (the start of) its body."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._status, self._body, self._answered = 0, bytearray(), False
        self.transport.write(data)
        try:
            result = await self._waiter
        except BaseException:
            self.close()  # cancelled or failed: the answer may still come; never reuse it
            raise
        finally:
            self._waiter = None
            self.used = True
        if not self._keep:
            self.close()
        return result

    @property
    def reusable(self) -> bool:
        """Return True when the connection can carry another request."""
        return self._keep and not self.closed and self.transport is not None

    def close(self) -> None:
        """Close the connection (at once)."""
        self._keep = False
        if self.transport is not None and not self.closed:
            self.transport.abort()
        self.closed = True


class Origin:
    """The connections to one ``scheme://host:port``, at most ``size`` requests at a time."""

    def __init__(self, target: Target, size: int, tls: ssl.SSLContext | None) -> None:
        self.target = target
        self.gate = asyncio.Semaphore(size)
        self.busy = 0
        self.closed = False
        self._idle: list[Connection] = []
        self._tls = tls if target.scheme == "https" else None

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(
            Connection,
            self.target.host,
            self.target.port,
            ssl=self._tls,
            server_hostname=self.target.host if self._tls is not None else None,
        )
        return protocol

    def _reuse(self) -> Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable:
                return connection
        return None

    async def post(
        self, target: Target, headers: dict[str, str], body: bytes, timeout: float
    ) -> tuple[int, bytes]:
        """POST ``body``; return the status and the start of the answer's body.

        ``timeout`` [s] bounds the request, not its wait for a free connection. Raises
        HttpError (or OSError / TimeoutError) when no answer came.
        """
        data = request_head(target, headers, len(body)) + body
        self.busy += 1
        try:
            async with self.gate, asyncio.timeout(timeout):  # the gate is entered first
                connection = self._reuse()
                if connection is not None:
                    try:
                        return self._done(connection, await connection.exchange(data))
                    except _Stale:
                        pass  # closed by the server as we sent: once more, on a new one
                connection = await self._connect()
                return self._done(connection, await connection.exchange(data))
        finally:
            self.busy -= 1

    def _done(self, connection: Connection, answer: tuple[int, bytes]) -> tuple[int, bytes]:
        if connection.reusable and not self.closed:
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    def close(self) -> None:
        """Close the idle connections (those in use close when their request ends)."""
        self.closed = True
        for connection in self._idle:
            connection.close()
        self._idle.clear()
