"""The MQTT agent: subscribes ``cityos/+/+/attrs`` and acknowledges after COMMIT.

- **Persistent session.** The agent connects with a fixed client id
  (``CITYOS_MQTT_CLIENT_ID``), MQTT 5 ``clean_start=False`` and a session expiry of
  ``SESSION_EXPIRY`` seconds, and subscribes with QoS 1: the broker keeps messages published
  while CityOS is down and delivers them when it reconnects (within the broker's queue
  limit, Mosquitto's ``max_queued_messages``).
- **Ack after commit.** paho-mqtt runs with ``manual_ack=True``: a PUBLISH is acknowledged
  (PUBACK) only from the writer's ``on_done``, after its measurements or its dead letter are
  committed. A message not acknowledged when the connection drops is delivered again by the
  broker (at-least-once: a crash between COMMIT and PUBACK writes that reading twice).
- **Window.** MQTT 5 ``Receive Maximum`` lets the broker send up to ``receive_maximum``
  unacknowledged messages, so group commit can fill its batches (Mosquitto's default for
  MQTT 3.1.1 clients is 20 in flight).

Acknowledgements of one connection are never sent on the next: packet ids restart, and a
stale PUBACK would acknowledge another message.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityos.config import SettingsError
from cityos.ingest.errors import Refused
from cityos.ingest.models import micros_now
from cityos.ingest.writer import Ingester, Message, Outcome
from cityos.observability import Metrics, log

TOPIC_FILTER = "cityos/+/+/attrs"
SESSION_EXPIRY = 7 * 24 * 3600  # [s] the broker keeps the session (and queued messages)


def broker_address(url: str) -> tuple[str, int]:
    """Return (host, port) of an ``mqtt://host[:port]`` URL, or raise SettingsError."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise SettingsError(
            f"CITYOS_MQTT_URL must look like mqtt://127.0.0.1:1883 (got {url!r}); "
            "TLS (mqtts://) is not supported yet: put the broker on the same host or a VPN"
        )
    return parts.hostname, parts.port or 1883


def parse_topic(topic: str) -> tuple[str, str]:
    """Return (apikey, device id) of ``cityos/{apikey}/{device_id}/attrs``, or raise Refused."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "cityos" or parts[3] != "attrs" or not all(parts[1:3]):
        raise Refused(
            "bad_topic",
            f"publish to cityos/<apikey>/<device id>/attrs (got {topic[:100]!r})",
            f"cityos/<API 키>/<장치 id>/attrs 토픽으로 보내세요 (입력: {topic[:100]!r})",
        )
    return parts[1], parts[2]


def masked_topic(topic: str) -> str:
    """Return the topic with its API key cut to 6 characters (dead letters never keep keys)."""
    parts = topic.split("/")
    if len(parts) >= 2 and len(parts[1]) > 6:
        parts[1] = parts[1][:6] + "…"
    return "/".join(parts)


class MqttAgent:
    """One MQTT client feeding the ingester; start() and stop() from the app's lifespan."""

    def __init__(
        self,
        *,
        url: str,
        client_id: str,
        ingester: Ingester,
        metrics: Metrics,
        receive_maximum: int = 4000,
    ) -> None:
        self._host, self._port = broker_address(url)
        self._ingester = ingester
        self._metrics = metrics
        self._lock = threading.Lock()
        self._generation = 0  # bumped on every (re)connection
        self._accepting = False
        self.connected = threading.Event()
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client = client
        self._receive_maximum = max(1, min(receive_maximum, 65535))

    def start(self) -> None:
        """Connect in the background (reconnecting for ever) and start the network thread."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY
        properties.ReceiveMaximum = self._receive_maximum
        self._accepting = True
        self._client.connect_async(
            self._host, self._port, keepalive=30, clean_start=False, properties=properties
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Stop taking messages (the unacknowledged ones stay with the broker), disconnect."""
        self._accepting = False

    def close(self) -> None:
        """Disconnect and stop the network thread (after the ingester has drained)."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("mqtt_connect_refused", reason=str(reason))
            return
        with self._lock:
            self._generation += 1
        # The session keeps the subscription; subscribing again is harmless and covers a
        # broker that lost its session store.
        client.subscribe(TOPIC_FILTER, qos=1)
        log.info(
            "mqtt_connected",
            broker=f"{self._host}:{self._port}",
            session_present=bool(getattr(flags, "session_present", False)),
        )
        self.connected.set()
        self._metrics.ingest_mqtt_connected.set(1)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        with self._lock:
            self._generation += 1
        self.connected.clear()
        self._metrics.ingest_mqtt_connected.set(0)
        if self._accepting:
            log.warning("mqtt_disconnected", reason=str(reason))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if not self._accepting:
            return  # not acknowledged: the broker delivers it again after the restart
        generation = self._generation
        mid, qos = msg.mid, msg.qos

        def acknowledge(outcome: Outcome) -> None:
            if outcome is None:
                return  # nothing committed: leave it to the broker to deliver again
            with self._lock:
                if generation == self._generation:
                    client.ack(mid, qos)

        apikey = device_id = None
        refused = None
        try:
            apikey, device_id = parse_topic(msg.topic)
        except Refused as refusal:
            refused = refusal
        queued = self._ingester.submit(
            Message(
                transport="mqtt",
                device_id=device_id,
                apikey=apikey,
                payload=bytes(msg.payload),
                received_at=micros_now(),
                on_done=acknowledge,
                topic=masked_topic(msg.topic),
                refused=refused,
            )
        )
        if not queued:
            log.warning("mqtt_message_not_queued", topic=masked_topic(msg.topic)[:100])
