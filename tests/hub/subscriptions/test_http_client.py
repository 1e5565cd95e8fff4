"""The notifier's HTTP/1.1 client against real sockets: framing, keep-alive, failures, TLS.

A small TCP server answers each request with a scripted raw answer, so every way a
receiver may frame or end an answer is exercised on the wire.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cityos.hub.subscriptions.senders import DeliveryFailed, HttpSender


class Scripted:
    """A TCP server: reads one request at a time and sends the next scripted answer.

    An answer of ``None`` closes the connection without answering, an empty one never
    answers; after an answer whose text has ``Connection: close`` (or ``close_after``) the
    connection is closed.
    """

    def __init__(self, answers: list[bytes | None], close_after: bool = False) -> None:
        self.answers = list(answers)
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.tls: ssl.SSLContext | None = None
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                return
        with conn:
            buffer = b""
            while self.answers:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                answer = self.answers.pop(0)
                if answer is None:
                    return
                if not answer:
                    while conn.recv(65536):  # until the client gives up
                        pass
                    return
                conn.sendall(answer)
                if self.close_after or b"Connection: close" in answer:
                    return

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify?x=1"

    def close(self) -> None:
        self._sock.close()


OK = b"HTTP/1.1 204 No Content\r\n\r\n"


LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}  # cityos up: uvloop


def send(sender: HttpSender, url: str, *bodies: bytes, loop: str = "asyncio") -> list[str | None]:
    """Send each body in turn; return None for a success or the failure's text."""

    async def run() -> list[str | None]:
        out: list[str | None] = []
        for body in bodies:
            try:
                await sender.send({"uri": url}, body, {"Content-Type": "application/json"})
                out.append(None)
            except DeliveryFailed as error:
                out.append(str(error))
        await sender.close()
        return out

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(run())


@pytest.fixture
def server() -> Iterator[Scripted]:
    made = Scripted([OK] * 3)
    yield made
    made.close()


@pytest.mark.parametrize("loop", LOOPS)
def test_requests_reuse_one_kept_alive_connection(server: Scripted, loop: str) -> None:
    sent = send(HttpSender(), server.url, b"{1}", b"{22}", b"{333}", loop=loop)
    assert sent == [None, None, None]
    assert server.connections == 1
    first = server.requests[0].decode()
    assert first.startswith("POST /notify?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in first
    assert "Content-Type: application/json\r\n" in first
    assert first.endswith("Content-Length: 3\r\n\r\n{1}")


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nConnection: close\r\n\r\nbody until the end",
        b"HTTP/1.0 200 OK\r\n\r\n",
    ],
    ids=["length", "chunked", "until-close", "http-1.0"],
)
@pytest.mark.parametrize("loop", LOOPS)
def test_each_answer_framing_is_read(answer: bytes, loop: str) -> None:
    server = Scripted([answer, OK], close_after=answer.startswith(b"HTTP/1.0"))
    try:
        assert send(HttpSender(), server.url, b"{}", b"{}", loop=loop) == [None, None]
    finally:
        server.close()


def test_a_refusal_carries_the_status_and_the_answer() -> None:
    server = Scripted([b"HTTP/1.1 503 Busy\r\nContent-Length: 9\r\n\r\ntry later", OK])
    try:
        result = send(HttpSender(), server.url, b"{}", b"{}")
    finally:
        server.close()
    assert result == ["HTTP 503: try later / 수신자가 HTTP 503(으)로 거절했습니다", None]


def test_a_kept_alive_connection_closed_by_the_receiver_is_retried_once() -> None:
    # the first connection answers once, then closes when the second request comes
    server = Scripted([OK, None, OK])
    try:
        result = send(HttpSender(), server.url, b"{a}", b"{b}")
    finally:
        server.close()
    assert result == [None, None]
    assert server.connections == 2
    assert server.requests[-1].endswith(b"{b}")


def test_no_answer_and_no_receiver_are_failures() -> None:
    server = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"])
    try:
        (cut,) = send(HttpSender(), server.url, b"{}")
    finally:
        server.close()
    assert cut is not None
    assert "connection closed" in cut
    silent = Scripted([b""])  # reads the request, never answers
    try:
        (late,) = send(HttpSender(timeout=0.3), silent.url, b"{}")
    finally:
        silent.close()
    assert late is not None
    assert late.startswith("Timeout")
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    (refused,) = send(HttpSender(), f"http://127.0.0.1:{port}/", b"{}")
    assert refused is not None
    assert "Connect" in refused


def test_a_header_that_would_split_the_request_is_refused(server: Scripted) -> None:
    async def run() -> str:
        sender = HttpSender()
        try:
            await sender.send({"uri": server.url}, b"{}", {"X-A": "1\r\nX-Injected: yes"})
        except DeliveryFailed as error:
            return str(error)
        finally:
            await sender.close()
        return "sent"

    assert "invalid header" in asyncio.run(run())
    assert server.requests == []


def test_user_info_becomes_basic_authentication(server: Scripted) -> None:
    url = f"http://alice:s%40cret@127.0.0.1:{server.port}/n"
    assert send(HttpSender(), url, b"{}") == [None]
    assert b"Authorization: Basic YWxpY2U6c0BjcmV0\r\n" in server.requests[0]  # alice:s@cret


def certificate(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 / localhost and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_is_verified(tmp_path: Path) -> None:
    cert_file, key_file = certificate(tmp_path)
    server = Scripted([OK, OK])
    server.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.tls.load_cert_chain(cert_file, key_file)
    url = f"https://localhost:{server.port}/n"
    trusting = ssl.create_default_context(cafile=str(cert_file))
    try:
        assert send(HttpSender(tls=trusting), url, b"{}") == [None]
        (untrusted,) = send(HttpSender(), url, b"{}")  # the system's CAs do not know it
    finally:
        server.close()
    assert untrusted is not None
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted
