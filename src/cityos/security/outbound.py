"""Where CityOS may send a request on someone's say-so: the SSRF check of callback URLs.

A complaint's ``webhook_url`` and an NGSI-LD subscription's ``notification.endpoint.uri`` are
URLs that a caller gives and the server later calls. Unchecked, they let a caller make the
server reach what only it can reach (server-side request forgery): its own admin ports on
loopback, the cloud metadata service at 169.254.169.254, databases on the private network.

One check, used at registration (:func:`check_url`: a clear 400 naming the rule, in Korean
and English) and again right before each send (:func:`resolve_checked`: the host's DNS
answers, every one of them, so a name that re-binds to a private address after registration
is still refused; :class:`CheckedHosts` keeps that answer a few seconds per host).
Refused: a scheme other than the caller's list (http, https; mqtt, mqtts for
subscriptions), user:password in an http(s) URL, ``localhost`` and metadata host names, and
any address that is loopback, link-local (169.254/16, fe80::/10), private (10/8,
172.16/12, 192.168/16, fc00::/7), unspecified (0.0.0.0, ::), multicast, reserved, or an
IPv4-mapped/6to4/NAT64 disguise of one of those — unless the allow-list says otherwise.

The allow-list (:class:`OutboundPolicy`, from ``CITYOS_OUTBOUND_ALLOW``) names host names and
CIDR blocks that may be reached although the rules above refuse them: an on-premises
receiver on 10.20.0.5, a test receiver on 127.0.0.1. Unset, it is ``127.0.0.0/8, ::1,
localhost`` in development and test modes (a developer's receiver on their laptop) and empty
in production. docs/security.md ("Outbound requests (SSRF)") says why.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names of cloud providers' instance metadata services (their addresses, 169.254.169.254 and
# fd00:ec2::254, are refused as link-local and private addresses).
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
    }
)
WEBHOOK_SCHEMES = ("http", "https")
NOTIFY_SCHEMES = ("http", "https", "mqtt", "mqtts")  # NGSI-LD endpoints (GS CIM 009 MQTT binding)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
DEVELOPMENT_ALLOW = ("127.0.0.0/8", "::1", "localhost")
# Ranges refused although ``ipaddress`` calls some of them global (CGNAT, benchmarking).
EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(n) for n in ("100.64.0.0/10", "198.18.0.0/15", "192.0.0.0/24")
)


class UnsafeTarget(ValueError):
    """A URL the server must not call; ``detail`` / ``detail_ko`` say which rule and why."""

    def __init__(self, detail: str, detail_ko: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.detail_ko = detail_ko


class UnresolvedHost(UnsafeTarget):
    """The host name has no address now (perhaps for a while only: a sender retries)."""


@dataclass(frozen=True)
class OutboundPolicy:
    """The allow-list: host names and networks that may be called although not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> OutboundPolicy:
        """Return the policy of ``entries`` (``10.0.0.0/8``, ``::1``, ``hooks.local``)."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            text = entry.strip().lower()
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
            except ValueError:
                hosts.add(text.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """Return True when the host name itself is on the allow-list."""
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        """Return True when the address lies in an allowed network."""
        return any(address.version == n.version and address in n for n in self.networks)


def policy_of(settings: Any) -> OutboundPolicy:
    """Return the allow-list of a deployment (``CITYOS_OUTBOUND_ALLOW``, else by mode)."""
    entries = getattr(settings, "outbound_allow", None)
    if entries is None:
        mode = getattr(settings, "mode", "production")
        entries = DEVELOPMENT_ALLOW if mode in ("development", "test") else ()
    return OutboundPolicy.parse(entries)


def _unwrap(address: IPAddress) -> IPAddress:
    """Return the IPv4 address hidden in an IPv4-mapped, 6to4 or NAT64 IPv6 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in ipaddress.ip_network("64:ff9b::/96"):
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def why_refused(address: IPAddress) -> str | None:
    """Return the name of the range that makes ``address`` unsafe, or None if it is public."""
    inner = _unwrap(address)
    if inner.is_unspecified:
        return "unspecified (0.0.0.0 / ::)"
    if inner.is_loopback:
        return "loopback (127.0.0.0/8, ::1)"
    if inner.is_link_local:
        return "link-local (169.254.0.0/16, fe80::/10; cloud metadata)"
    if inner.is_multicast:
        return "multicast"
    if inner.is_private or any(inner.version == n.version and inner in n for n in EXTRA_BLOCKED):
        return "private (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10)"
    if inner.is_reserved or not inner.is_global:
        return "reserved / not globally routable"
    return None


def _refuse_address(name: str, address: IPAddress, host: str, reason: str) -> UnsafeTarget:
    return UnsafeTarget(
        f"{name} points to {address} ({reason}) through host {host!r}; CityOS does not call "
        "internal addresses for callers. Use a public http(s) address, or ask the operator to "
        "add the host or network to CITYOS_OUTBOUND_ALLOW.",
        f"{name}이(가) 내부 주소 {address}({reason})를 가리킵니다(호스트 {host!r}). CityOS는 "
        "호출자를 위해 내부 주소를 호출하지 않습니다. 공개 http(s) 주소를 쓰거나, 운영자에게 "
        "CITYOS_OUTBOUND_ALLOW에 호스트나 네트워크를 추가해 달라고 하세요.",
    )


def check_address(name: str, host: str, address: IPAddress, policy: OutboundPolicy) -> None:
    """Refuse ``address`` (which ``host`` resolved to) unless public or allowed."""
    if policy.allows_host(host) or policy.allows_address(address):
        return
    reason = why_refused(address)
    if reason is not None:
        raise _refuse_address(name, address, host, reason)


def check_url(
    url: str,
    policy: OutboundPolicy,
    *,
    name: str = "webhook_url",
    schemes: tuple[str, ...] = WEBHOOK_SCHEMES,
) -> tuple[str, int]:
    """Refuse a callback URL by its form and literal host; return (host, port).

    Names are not resolved here (the registering request would wait on DNS, and the answer
    may change): :func:`resolve_checked` checks the addresses before every send.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme.lower() not in schemes or not parts.hostname:
        raise UnsafeTarget(
            f"{name} must be a {' or '.join(s + '://' for s in schemes)} URL with a host.",
            f"{name}은(는) 호스트가 있는 {', '.join(s + '://' for s in schemes)} URL이어야 합니다.",
        )
    scheme = parts.scheme.lower()
    if (parts.username is not None or parts.password is not None) and scheme.startswith("http"):
        raise UnsafeTarget(
            f"{name} must not carry a user name or password (user:pass@host): they would be "
            "stored and logged with the URL. Authenticate the receiver another way (a secret "
            "path or a signature check).",
            f"{name}에 사용자 이름이나 비밀번호(user:pass@host)를 넣지 마세요. "
            "URL과 함께 저장·기록됩니다. 수신 측 인증은 다른 방법(비밀 경로, 서명 확인)을 쓰세요.",
        )
    host = parts.hostname.lower().rstrip(".")
    default = {"http": 80, "https": 443, "mqtt": 1883, "mqtts": 8883}.get(scheme, 0)
    port = port or default
    if policy.allows_host(host):
        return host, port
    if host in METADATA_HOSTS or host in LOOPBACK_NAMES or host.endswith(".localhost"):
        raise UnsafeTarget(
            f"{name} names {host!r}, this server itself or a cloud metadata service; CityOS "
            "does not call it for callers (CITYOS_OUTBOUND_ALLOW lists exceptions).",
            f"{name}의 {host!r}는 이 서버 자신이거나 클라우드 메타데이터 서비스입니다. CityOS는 "
            "호출자를 위해 이를 호출하지 않습니다(예외는 CITYOS_OUTBOUND_ALLOW).",
        )
    address = literal_address(host)
    if address is not None:
        check_address(name, host, address, policy)
    return host, port


def literal_address(host: str) -> IPAddress | None:
    """Return the address a host written as a number stands for, or None for a name.

    Besides the usual forms this reads what the C resolver also accepts as IPv4 (``127.1``,
    ``0x7f000001``, ``2130706433``, ``0177.0.0.1``), a classic way around naive checks.
    """
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _addresses(infos: Iterable[tuple[Any, ...]]) -> list[IPAddress]:
    out: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%")[0]  # drop an IPv6 zone id
        address = ipaddress.ip_address(text)
        if address not in out:
            out.append(address)
    return out


def _no_address(name: str, host: str, error: OSError) -> UnresolvedHost:
    return UnresolvedHost(
        f"{name}: the host {host!r} does not resolve ({error}).",
        f"{name}: 호스트 {host!r}의 주소를 찾을 수 없습니다({error}).",
    )


def resolve_checked(
    url: str,
    policy: OutboundPolicy,
    *,
    name: str = "webhook_url",
    schemes: tuple[str, ...] = WEBHOOK_SCHEMES,
) -> list[IPAddress]:
    """Check ``url`` again, resolve its host and refuse it if any address is unsafe.

    Returns the checked addresses; a sender that connects to one of them (not to the name
    again) closes the DNS-rebinding window between this check and the connection.
    """
    host, port = check_url(url, policy, name=name, schemes=schemes)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise _no_address(name, host, error) from None
    return _checked_addresses(name, host, infos, policy)


async def resolve_checked_async(
    url: str,
    policy: OutboundPolicy,
    *,
    name: str = "notification.endpoint.uri",
    schemes: tuple[str, ...] = NOTIFY_SCHEMES,
) -> list[IPAddress]:
    """:func:`resolve_checked` on the event loop's resolver (for the async senders)."""
    host, port = check_url(url, policy, name=name, schemes=schemes)
    return await _resolve_host_async(name, host, port, policy)


async def _resolve_host_async(
    name: str, host: str, port: int, policy: OutboundPolicy
) -> list[IPAddress]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise _no_address(name, host, error) from None
    return _checked_addresses(name, host, infos, policy)


def _checked_addresses(
    name: str, host: str, infos: Iterable[tuple[Any, ...]], policy: OutboundPolicy
) -> list[IPAddress]:
    """Return the addresses of ``getaddrinfo``'s answer, refusing the target if any is unsafe."""
    addresses = _addresses(infos)
    for address in addresses:
        check_address(name, host, address, policy)
    return addresses


class CheckedHosts:
    """:func:`resolve_checked_async` that keeps each host's answer for ``ttl`` seconds.

    A sender that checks an endpoint before every delivery round would otherwise ask DNS
    once per subscription and round: a hundred subscriptions to one receiver, a hundred
    lookups. The URL's form (scheme, credentials, literal address) is still checked on
    every call; what is kept, per (policy, name, host, port), is the resolved addresses or
    the refusal, so a refused host stays refused, with the same error, until its entry
    expires and it is resolved and checked afresh. At most ``size`` hosts are kept (the
    least recently checked are dropped first). Not thread-safe: one per event loop.
    """

    def __init__(
        self,
        ttl: float = 5.0,
        size: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl  # [s]
        self.size = size
        self.clock = clock
        self._found: OrderedDict[
            tuple[OutboundPolicy, str, str, int], tuple[float, list[IPAddress] | UnsafeTarget]
        ] = OrderedDict()

    def __len__(self) -> int:
        return len(self._found)

    async def resolve_checked(
        self,
        url: str,
        policy: OutboundPolicy,
        *,
        name: str = "notification.endpoint.uri",
        schemes: tuple[str, ...] = NOTIFY_SCHEMES,
    ) -> list[IPAddress]:
        """Check ``url`` as :func:`resolve_checked_async`, resolving its host at most once a ttl."""
        host, port = check_url(url, policy, name=name, schemes=schemes)
        key = (policy, name, host, port)
        entry = self._found.get(key)
        if entry is not None and entry[0] > self.clock():
            self._found.move_to_end(key)
            found = entry[1]
        else:
            try:
                found = await _resolve_host_async(name, host, port, policy)
            except UnsafeTarget as error:
                found = error
            self._found[key] = (self.clock() + self.ttl, found)
            self._found.move_to_end(key)
            while len(self._found) > self.size:
                self._found.popitem(last=False)
        if isinstance(found, UnsafeTarget):
            raise type(found)(found.detail, found.detail_ko)  # a fresh one: no stacked traceback
        return list(found)
