"""The SSRF check of callback URLs (cityos.security.outbound): what is refused, what the
allow-list lets through, and that a name is judged by the addresses it resolves to."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from cityos.config import Settings
from cityos.security import outbound
from cityos.security.outbound import OutboundPolicy, UnsafeTarget, check_url, policy_of
from tests.conftest import run_async

STRICT = OutboundPolicy()

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
