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
import ssl
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cityos.hub.subscriptions._http import HttpError, Origin, Target

DEFAULT_TIMEOUT = 5.0  # [s] per attempt (Settings.notify_timeout), unless endpoint.timeout [ms]


class DeliveryFailed(Exception):
    """The receiver did not accept the notification (the row stays for a retry); ``str()``
    gives the reason in English and Korean: it is the subscription's ``lastErrorReason``."""

    def __init__(self, reason: str, reason_ko: str) -> None:
        super().__init__(f"{reason} / {reason_ko}")
        self.reason = reason
        self.reason_ko = reason_ko


def info(endpoint: dict[str, Any], key: str, default: str) -> str:
    """Return one ``notifierInfo`` value of an endpoint."""
    for pair in endpoint.get("notifierInfo", ()):
        if pair["key"] == key:
            return str(pair["value"])
    return default


class HttpSender:
    """POSTs notifications over kept-alive connections, at most ``POOL`` per endpoint origin.

    One :class:`~cityos.hub.subscriptions._http.Origin` per ``scheme://host:port`` with at
    most ``POOL`` connections and requests in flight (the rest wait their turn). At most
    ``ORIGINS`` origins are kept; the least recently used idle one is closed beyond that.
    """

    POOL = 8  # connections (and requests in flight) per origin
    ORIGINS = 256

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, tls: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout  # [s] per request unless the endpoint's ``timeout`` [ms] is set
        self.tls = tls or ssl.create_default_context()  # https: the system's CA certificates
        self._origins: dict[tuple[str, str, int], Origin] = {}  # least recently used first
        self._targets: dict[str, Target] = {}  # parsed endpoint URIs

    def _target(self, uri: str) -> Target:
        target = self._targets.get(uri)
        if target is None:
            if len(self._targets) >= 4 * self.ORIGINS:
                self._targets.clear()
            target = self._targets[uri] = Target.parse(uri)
        return target

    def _origin(self, target: Target) -> Origin:
        key = (target.scheme, target.host, target.port)
        origin = self._origins.pop(key, None)
        if origin is None:
            origin = Origin(target, self.POOL, self.tls)
            if len(self._origins) >= self.ORIGINS:
                self._evict()
        self._origins[key] = origin  # now the most recently used
        return origin

    def _evict(self) -> None:
        for key, origin in self._origins.items():
            if origin.busy == 0:
                del self._origins[key]
                origin.close()
                return

    async def send(self, endpoint: dict[str, Any], body: bytes, headers: dict[str, str]) -> None:
        """POST ``body``; raise DeliveryFailed unless the receiver answers 2xx."""
        timeout = endpoint.get("timeout")
        try:
            target = self._target(endpoint["uri"])
            status, answer = await self._origin(target).post(
                target, headers, body, self.timeout if timeout is None else timeout / 1000
            )
        except TimeoutError:
            raise DeliveryFailed(
                "Timeout: no answer within the timeout", "시간 초과: 제한 시간 안에 응답이 없습니다"
            ) from None
        except HttpError as error:
            raise DeliveryFailed(error.reason, error.reason_ko) from None
        except OSError as error:
            kind = type(error).__name__
            raise DeliveryFailed(f"{kind}: {error}", f"연결 오류 ({kind}): {error}") from None
        if not 200 <= status < 300:
            text = answer.decode("utf-8", errors="replace")
            raise DeliveryFailed(
                f"HTTP {status}: {text[:200]}", f"수신자가 HTTP {status}(으)로 거절했습니다"
            )

    async def close(self) -> None:
        """Close every connection."""
        origins = list(self._origins.values())
        self._origins.clear()
        for origin in origins:
            origin.close()


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
            why = mqtt.error_string(message.rc)
            raise DeliveryFailed(f"MQTT publish failed: {why}", f"MQTT 발행에 실패했습니다: {why}")
        if qos > 0:
            message.wait_for_publish(timeout)
            if not message.is_published():
                raise DeliveryFailed(
                    f"MQTT broker sent no PUBACK within {timeout:g} s",
                    f"MQTT 브로커가 {timeout:g}초 안에 PUBACK을 보내지 않았습니다",
                )

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class MqttSender:
    """Publishes notifications, keeping one connection per broker, protocol and user."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout  # [s] for a PUBACK unless the endpoint's ``timeout`` [ms] is set
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
        timeout = endpoint.get("timeout", self.timeout * 1000) / 1000
        with self._lock:
            broker = self._brokers.get(key)
            if broker is None:
                try:
                    broker = _Broker(str(parts.hostname), port, version, user, pw, tls=tls)
                except OSError as error:
                    raise DeliveryFailed(
                        f"cannot connect to the MQTT broker: {error}",
                        f"MQTT 브로커에 연결할 수 없습니다: {error}",
                    ) from None
                self._brokers[key] = broker
        try:
            broker.publish(unquote(parts.path.lstrip("/")), payload, qos, timeout)
        except (DeliveryFailed, OSError, RuntimeError) as error:
            with self._lock:  # reconnect on the next attempt
                if self._brokers.get(key) is broker:
                    del self._brokers[key]
            broker.close()
            if isinstance(error, DeliveryFailed):
                raise
            kind = type(error).__name__
            raise DeliveryFailed(
                f"MQTT publish failed: {kind}: {error}",
                f"MQTT 발행에 실패했습니다 ({kind}): {error}",
            ) from None

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
