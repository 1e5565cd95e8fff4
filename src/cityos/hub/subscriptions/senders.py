"""Send one notification to its endpoint: HTTP(S) POST, or an MQTT publish (QoS 0 or 1).

A send either returns (the receiver accepted it: a 2xx answer, or the broker's PUBACK for
QoS 1, or the packet written to the broker's socket for QoS 0) or raises
:class:`DeliveryFailed`; the dispatcher deletes the outbox row only in the first case.

MQTT follows GS CIM 009 v1.8 Annex (MQTT binding): the message is
``{"metadata": {<headers>}, "body": <Notification>}`` on the URI's path as topic;
``notifierInfo`` ``MQTT-Version`` (mqtt3.1.1, mqtt5.0) and ``MQTT-QoS`` (0, 1) choose the
protocol and QoS; user and password come from the URI (``mqtt://user:pass@host:1883/t``).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

DEFAULT_TIMEOUT = 10.0  # [s] per attempt, unless endpoint.timeout [ms] says otherwise


class DeliveryFailed(Exception):
    """The receiver did not accept the notification (the row stays for a retry)."""


def info(endpoint: dict[str, Any], key: str, default: str) -> str:
    """Return one ``notifierInfo`` value of an endpoint."""
    for pair in endpoint.get("notifierInfo", ()):
        if pair["key"] == key:
            return str(pair["value"])
    return default


class HttpSender:
    """POSTs notifications over a keep-alive connection pool per endpoint origin.

    One pool per ``scheme://host:port`` with at most ``POOL`` connections, and at most
    ``POOL`` requests in flight to it (the rest wait on a semaphore, not in httpcore's
    queue, whose cost per request grows with the queue times the connections). At most
    ``ORIGINS`` pools are kept; the least recently used idle one is closed beyond that.
    """

    POOL = 8  # connections (and requests in flight) per origin
    ORIGINS = 256

    def __init__(self) -> None:
        self._pools: dict[str, _Pool] = {}  # insertion order = least recently used first

    def _pool(self, uri: str) -> _Pool:
        parts = urlsplit(uri)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        pool = self._pools.pop(origin, None)
        if pool is None:
            pool = _Pool(self.POOL)
            if len(self._pools) >= self.ORIGINS:
                self._evict()
        self._pools[origin] = pool  # now the most recently used
        return pool

    def _evict(self) -> None:
        for origin, pool in self._pools.items():
            if pool.busy == 0:
                del self._pools[origin]
                task = asyncio.ensure_future(pool.client.aclose())
                _closing.add(task)
                task.add_done_callback(_closing.discard)
                return

    async def send(self, endpoint: dict[str, Any], body: bytes, headers: dict[str, str]) -> None:
        """POST ``body``; raise DeliveryFailed unless the receiver answers 2xx."""
        timeout = endpoint.get("timeout")
        pool = self._pool(endpoint["uri"])
        pool.busy += 1
        try:
            async with pool.gate:
                response = await pool.client.post(
                    endpoint["uri"],
                    content=body,
                    headers=headers,
                    timeout=DEFAULT_TIMEOUT if timeout is None else timeout / 1000,
                )
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
        finally:
            pool.busy -= 1
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")

    async def close(self) -> None:
        """Close every connection pool."""
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.client.aclose()


_closing: set[asyncio.Future[None]] = set()  # evicted pools being closed


class _Pool:
    """One origin's HTTP client, its in-flight limit, and how many sends use it."""

    def __init__(self, size: int) -> None:
        self.client = httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT,
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        )
        self.gate = asyncio.Semaphore(size)
        self.busy = 0


class _Broker:
    """One connected paho client (its network loop runs in paho's own thread)."""

    def __init__(
        self, host: str, port: int, version: str, user: str | None, pw: str | None, *, tls: bool
    ) -> None:
        protocol = mqtt.MQTTv5 if version == "mqtt5.0" else mqtt.MQTTv311
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
        if tls:  # mqtts: the system's CA certificates verify the broker
            self.client.tls_set()
        if user is not None:
            self.client.username_pw_set(user, pw)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, qos: int, timeout: float) -> None:
        message = self.client.publish(topic, payload, qos=qos)
        if message.rc != mqtt.MQTT_ERR_SUCCESS:
            raise DeliveryFailed(f"MQTT publish failed: {mqtt.error_string(message.rc)}")
        if qos > 0:
            message.wait_for_publish(timeout)
            if not message.is_published():
                raise DeliveryFailed(f"MQTT broker sent no PUBACK within {timeout:g} s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class MqttSender:
    """Publishes notifications, keeping one connection per broker, protocol and user."""

    def __init__(self) -> None:
        self._brokers: dict[tuple[Any, ...], _Broker] = {}
        self._lock = threading.Lock()

    def _publish(self, endpoint: dict[str, Any], payload: bytes) -> None:
        parts = urlsplit(endpoint["uri"])
        version = info(endpoint, "MQTT-Version", "mqtt3.1.1")
        qos = int(info(endpoint, "MQTT-QoS", "0"))
        user = unquote(parts.username) if parts.username else None
        pw = unquote(parts.password) if parts.password else None
        tls = parts.scheme == "mqtts"
        port = parts.port or (8883 if tls else 1883)
        key = (parts.hostname, port, version, user, pw, tls)
        timeout = endpoint.get("timeout", DEFAULT_TIMEOUT * 1000) / 1000
        with self._lock:
            broker = self._brokers.get(key)
            if broker is None:
                try:
                    broker = _Broker(str(parts.hostname), port, version, user, pw, tls=tls)
                except OSError as error:
                    raise DeliveryFailed(f"cannot connect to the MQTT broker: {error}") from None
                self._brokers[key] = broker
        try:
            broker.publish(unquote(parts.path.lstrip("/")), payload, qos, timeout)
        except (DeliveryFailed, OSError, RuntimeError) as error:
            with self._lock:  # reconnect on the next attempt
                if self._brokers.get(key) is broker:
                    del self._brokers[key]
            broker.close()
            raise DeliveryFailed(str(error)) from None

    async def send(self, endpoint: dict[str, Any], body: bytes, headers: dict[str, str]) -> None:
        """Publish ``{"metadata": headers, "body": notification}``; raise DeliveryFailed."""
        payload = b'{"metadata":' + orjson.dumps(headers) + b',"body":' + body + b"}"
        await asyncio.to_thread(self._publish, endpoint, payload)

    def close(self) -> None:
        """Disconnect from every broker."""
        with self._lock:
            brokers = list(self._brokers.values())
            self._brokers.clear()
        for broker in brokers:
            broker.close()
