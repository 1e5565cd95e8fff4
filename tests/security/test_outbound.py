"""The SSRF check of callback URLs (cityos.security.outbound): what is refused, what the
allow-list lets through, that a name is judged by the addresses it resolves to, and how long
CheckedHosts keeps a host's answer."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from cityos.config import Settings
from cityos.security import outbound
from cityos.security.outbound import OutboundPolicy, UnsafeTarget, check_url, policy_of
from tests.conftest import run_async

STRICT = OutboundPolicy()
T = TypeVar("T")

REFUSED = [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://127.1:8080/hook", "loopback"),  # the C resolver's short form
    ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as one number
    ("http://0x7f000001/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped IPv6
    ("http://localhost:8000/hook", "this server"),
    ("http://api.localhost/hook", "this server"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://[::]/hook", "unspecified"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://10.0.0.5/hook", "private"),
    ("http://172.16.3.4/hook", "private"),
    ("http://172.31.255.255/hook", "private"),
    ("http://192.168.1.10/hook", "private"),
    ("http://[fd12:3456::1]/hook", "private"),
    ("http://100.64.0.1/hook", "private"),  # carrier-grade NAT
    ("http://224.0.0.1/hook", "multicast"),
    ("ftp://hooks.example.kr/x", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("gopher://hooks.example.kr/", "http:// or https://"),
    ("http:///no-host", "with a host"),
    ("https://user:secret@hooks.example.kr/x", "password"),
    ("https://token@hooks.example.kr/x", "password"),
    ("http://hooks.example.kr:99999/x", "with a host"),  # a port that is no port
]


@pytest.mark.parametrize(("url", "says"), REFUSED)
def test_internal_targets_and_bad_forms_are_refused_in_both_languages(url: str, says: str) -> None:
    with pytest.raises(UnsafeTarget) as refused:
        check_url(url, STRICT)
    assert says in refused.value.detail, refused.value.detail
    assert any("\uac00" <= c <= "\ud7a3" for c in refused.value.detail_ko)  # Korean text


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.kr/cityos",
        "http://8.8.8.8/hook",
        "https://[2001:4860:4860::8888]/hook",
        "http://172.32.0.1/hook",  # just outside 172.16/12
        "HTTPS://Hooks.Example.KR:8443/x",
    ],
)
def test_public_targets_pass(url: str) -> None:
    check_url(url, STRICT)


def test_the_allow_list_names_hosts_and_networks() -> None:
    policy = OutboundPolicy.parse(["10.20.0.0/16", "hooks.city.local", "::1"])
    check_url("http://10.20.3.4:9000/hook", policy)
    check_url("http://hooks.city.local/hook", policy)
    check_url("http://[::1]:8080/hook", policy)
    with pytest.raises(UnsafeTarget):
        check_url("http://10.21.0.1/hook", policy)
    with pytest.raises(UnsafeTarget):
        check_url("http://127.0.0.1/hook", policy)
    with pytest.raises(UnsafeTarget):  # the allow-list does not allow credentials
        check_url("http://u:p@hooks.city.local/hook", policy)


def test_the_default_allows_loopback_in_development_and_test_only() -> None:
    for mode in ("development", "test"):
        policy = policy_of(Settings(mode=mode))
        check_url("http://127.0.0.1:8000/hook", policy)
        check_url("http://localhost:8000/hook", policy)
        with pytest.raises(UnsafeTarget):
            check_url("http://169.254.169.254/", policy)
        with pytest.raises(UnsafeTarget):
            check_url("http://192.168.0.1/", policy)
    production = Settings(mode="production", secret_key="x" * 40)
    with pytest.raises(UnsafeTarget):
        check_url("http://127.0.0.1:8000/hook", policy_of(production))
    allowed = Settings(mode="production", secret_key="x" * 40, outbound_allow=["127.0.0.1/32"])
    check_url("http://127.0.0.1:8000/hook", policy_of(allowed))
    empty = Settings(mode="test", outbound_allow=[])  # an explicit empty list: nothing
    with pytest.raises(UnsafeTarget):
        check_url("http://127.0.0.1:8000/hook", policy_of(empty))


def test_settings_refuse_an_allow_list_entry_that_is_neither_cidr_nor_host() -> None:
    with pytest.raises(ValueError, match="CITYOS_OUTBOUND_ALLOW"):
        Settings(outbound_allow=["10.0.0.0/33"])
    with pytest.raises(ValueError, match="neither a CIDR"):
        Settings(outbound_allow=["http://hooks/"])


def _internal_name() -> tuple[str, list[str]]:
    """Return this machine's host name and the addresses the system resolver gives it."""
    name = socket.gethostname()
    found = sorted({str(i[4][0]) for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)})
    return name, found


def test_a_name_is_refused_by_the_addresses_it_resolves_to() -> None:
    """A host name passes the form check; resolving it shows where it really points."""
    name, found = _internal_name()
    # The machine's own name resolves (/etc/hosts) to an address no caller may reach.
    assert all(outbound.why_refused(ipaddress.ip_address(a)) for a in found), found
    check_url(f"http://{name}:8000/hook", STRICT)  # by its form: a plain name
    with pytest.raises(UnsafeTarget) as refused:
        outbound.resolve_checked(f"http://{name}:8000/hook", STRICT)
    assert found[0] in refused.value.detail
    with pytest.raises(UnsafeTarget):
        run_async(outbound.resolve_checked_async(f"http://{name}:8000/n", STRICT))
    allowed = OutboundPolicy.parse([f"{found[0]}/32"])
    assert [str(a) for a in outbound.resolve_checked(f"http://{name}/", allowed)] == found


def test_a_name_that_does_not_resolve_is_a_retryable_refusal() -> None:
    with pytest.raises(outbound.UnresolvedHost, match="does not resolve"):
        outbound.resolve_checked("http://no-such-host.invalid/hook", STRICT)


class CountingLoop(asyncio.SelectorEventLoop):
    """The standard event loop; records the host of each DNS lookup it really makes."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups: list[str] = []

    async def getaddrinfo(self, host: Any, port: Any, **kwargs: Any) -> Any:
        self.lookups.append(str(host))
        return await super().getaddrinfo(host, port, **kwargs)


def on_counting_loop(scenario: Callable[[CountingLoop], Coroutine[Any, Any, T]]) -> T:
    """Run ``scenario(loop)`` on a CountingLoop in a thread of its own (see run_async)."""

    def run() -> T:
        loop = CountingLoop()
        try:
            return loop.run_until_complete(scenario(loop))
        finally:
            loop.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0  # [s]

    def __call__(self) -> float:
        return self.now


def test_checked_hosts_reuse_a_hosts_answer_until_it_expires() -> None:
    name, found = _internal_name()
    allowed = OutboundPolicy.parse([f"{found[0]}/32"])
    clock = Clock()
    hosts = outbound.CheckedHosts(ttl=5.0, clock=clock)

    async def scenario(loop: CountingLoop) -> None:
        answers = [await hosts.resolve_checked(f"http://{name}:8000/n{i}", allowed) for i in (1, 2)]
        assert loop.lookups == [name]  # two paths on one host: one lookup
        assert [[str(a) for a in answer] for answer in answers] == [found, found]
        clock.now += 4.9
        await hosts.resolve_checked(f"http://{name}:8000/n", allowed)
        assert loop.lookups == [name]
        clock.now += 0.2  # 5.1 s after the lookup: expired
        await hosts.resolve_checked(f"http://{name}:8000/n", allowed)
        assert loop.lookups == [name, name]
        await hosts.resolve_checked(f"http://{name}:9000/n", allowed)  # another port
        assert loop.lookups == [name, name, name]
        # The URL's form is checked on every call, however fresh the host's answer.
        with pytest.raises(UnsafeTarget, match="password"):
            await hosts.resolve_checked(f"http://user:pw@{name}:8000/n", allowed)
        assert len(loop.lookups) == 3

    on_counting_loop(scenario)


def test_a_refused_host_stays_refused_kept_and_checked_afresh() -> None:
    name, found = _internal_name()
    clock = Clock()
    hosts = outbound.CheckedHosts(ttl=5.0, clock=clock)
    url = f"http://{name}:8000/n"

    async def scenario(loop: CountingLoop) -> list[str]:
        details = []
        for wait in (0.0, 1.0, 10.0):  # checked, kept (no lookup), expired and checked again
            clock.now += wait
            with pytest.raises(UnsafeTarget) as refused:
                await hosts.resolve_checked(url, STRICT)
            assert type(refused.value) is UnsafeTarget
            details.append(refused.value.detail)
        assert loop.lookups == [name, name]
        # The same host under a policy that allows its address has an answer of its own.
        allowed = OutboundPolicy.parse([f"{found[0]}/32"])
        assert [str(a) for a in await hosts.resolve_checked(url, allowed)] == found
        with pytest.raises(UnsafeTarget):
            await hosts.resolve_checked(url, STRICT)
        for _ in range(2):  # a name that does not resolve stays a retryable refusal
            with pytest.raises(outbound.UnresolvedHost, match="does not resolve"):
                await hosts.resolve_checked("http://no-such-host.invalid/n", STRICT)
        assert loop.lookups == [name, name, name, "no-such-host.invalid"]
        return details

    details = on_counting_loop(scenario)
    assert len(set(details)) == 1, details  # the same error each time
    assert found[0] in details[0]


def test_checked_hosts_keep_at_most_size_hosts() -> None:
    allowed = OutboundPolicy.parse(["127.0.0.0/8"])
    hosts = outbound.CheckedHosts(ttl=60.0, size=2, clock=Clock())

    async def scenario(loop: CountingLoop) -> None:
        for last in (1, 2, 3):
            await hosts.resolve_checked(f"http://127.0.0.{last}/n", allowed)
        assert len(hosts) == 2
        await hosts.resolve_checked("http://127.0.0.3/n", allowed)  # kept
        await hosts.resolve_checked("http://127.0.0.1/n", allowed)  # dropped first: looked up
        assert loop.lookups == ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"]
        assert len(hosts) == 2

    on_counting_loop(scenario)
