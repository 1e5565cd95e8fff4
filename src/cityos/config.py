"""Settings: the one place CityOS reads its environment (``CITYOS_`` prefix)."""

from __future__ import annotations

import base64
import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///var/cityos.db"
PLACEHOLDER_SECRET = "change-me"
MIN_SECRET_LENGTH = 32
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
DATA_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
DEFAULT_TENANT = "urn:ngsi-ld:tenant:default"
# The id of the data key derived from CITYOS_SECRET_KEY (cityos.privacy.crypto); reserved.
DERIVED_DATA_KEY_ID = "s0"
# How long each kind of personal data is kept [d] (docs/privacy.md, "Retention").
DEFAULT_RETENTION_DAYS: dict[str, int] = {
    "steps": 730,
    "health": 1825,
    "location": 90,
    "contact": 1095,
}
# Which entity types each department's operators may write (docs/security.md, "Hub access").
# Values use the API-key scope syntax; types are NGSI-LD core-context terms or full IRIs.
DEPARTMENT_SCOPES: dict[str, str] = {
    "교통과": "tenants=*;types=Vehicle,TrafficFlowObserved,BusStop,Road,RoadSegment,ParkingSpot,"
    "OffStreetParking,OnStreetParking;actions=read,write",
    "환경과": "tenants=*;types=AirQualityObserved,NoiseLevelObserved,WaterQualityObserved,"
    "WasteContainer,WeatherObserved;actions=read,write",
    "보건소": "tenants=*;types=EmergencyDepartment,Hospital,MedicalFacility;actions=read,write",
    "도시계획과": "tenants=*;types=City,AdministrativeArea,PointOfInterest,Building;"
    "actions=read,write",
}


class SettingsError(ValueError):
    """A setting has a value CityOS cannot run with."""


class Settings(BaseSettings):
    """Every knob of a CityOS deployment; each field reads ``CITYOS_<NAME>``."""

    # Errors name the setting, never echo its value (a secret or a database password).
    model_config = SettingsConfigDict(
        env_prefix="CITYOS_", extra="ignore", hide_input_in_errors=True
    )

    mode: Literal["development", "production", "test"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: str = Field(default=PLACEHOLDER_SECRET, repr=False)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    # Largest request body accepted by the hub [bytes]; larger bodies get 413.
    max_payload_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Largest request body accepted by every other route (/auth …) [bytes]; larger: 413.
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Most entities one query page may return (NGSI-LD `limit`), and the default page size.
    max_page_size: int = Field(default=1000, ge=1)
    default_page_size: int = Field(default=20, ge=1)
    # Extra JSON-LD contexts resolved offline: a JSON object of URL -> local file path.
    context_files: dict[str, Path] = Field(default_factory=dict)
    # How long to wait for a user @context from the network before 503 [s].
    context_fetch_timeout: float = Field(default=2.0, gt=0, le=30)
    # Load the built-in Sejong reference data into an empty hub on start.
    seed_city: bool = True
    # PostgreSQL connection pool size (per worker process), also its store's thread count,
    # and the number of connections the event loop may open for GETs by id and one-entity
    # writes (so up to twice this many connections per process).
    # A write holds its connection until COMMIT's WAL flush (~4 ms on a virtual disk);
    # with 16, sixteen writes share each flush (group commit) instead of eight.
    pool_size: int = Field(default=16, ge=1, le=200)
    # Identity (cityos.identity): token lifetimes and login lockout.
    # Lifetime of a JWT access token [min] and of an opaque refresh token [days].
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=14, ge=1, le=365)
    # Consecutive failed logins before an account is locked, and for how long [min].
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Hub access control (docs/security.md). "off" only on a loopback address.
    auth: Literal["on", "off"] = "on"
    # The tenant anyone may read without logging in (Sejong's public reference data);
    # "" makes every tenant need a token or key.
    open_data_tenant: str = DEFAULT_TENANT
    # Department -> what its operators may write, in API-key scope syntax (JSON object).
    department_scopes: dict[str, str] = Field(default_factory=lambda: dict(DEPARTMENT_SCOPES))
    # How long the hub trusts a checked token or key before asking the database again [s].
    # Logout and key revocation through this process's API take effect at once.
    auth_cache_seconds: float = Field(default=10.0, ge=0, le=300)
    # Citizen proposals (docs/governance/polls-and-proposals.md): supports that send a
    # proposal to official review = max(minimum, ceil(percent / 100 × its zone's residents)).
    proposal_support_percent: float = Field(default=1.0, gt=0, le=100)
    proposal_support_minimum: int = Field(default=10, ge=1, le=1_000_000)
    # Temporal history (docs/hub/temporal.md): keep every attribute instance a write makes.
    temporal_history: bool = True
    # Raw instances older than this are deleted by the retention job; hourly roll-ups stay [d].
    temporal_retention_days: int = Field(default=90, ge=1, le=36500)
    # Dead letters of device ingestion older than this are deleted by a periodic job [d].
    ingest_dead_letter_retention_days: int = Field(default=30, ge=1, le=36500)
    # Most instances of one attribute a temporal query returns before it pages (206).
    temporal_max_instances: int = Field(default=1000, ge=1, le=1_000_000)
    # Subscriptions (docs/hub/subscriptions.md): retry back-off of a failing endpoint [s]:
    # the first retry after notify_retry_initial, each next wait doubled, at most
    # notify_retry_max.
    notify_retry_initial: float = Field(default=0.5, gt=0, le=60)
    notify_retry_max: float = Field(default=30.0, gt=0, le=3600)
    # Timeout of one notification delivery (HTTP request or MQTT publish) [s].
    notify_timeout: float = Field(default=5.0, gt=0, le=120)
    # Device ingestion over MQTT (docs/ingest.md): on when set, e.g.
    # mqtt://127.0.0.1:1883; the client id keeps its persistent session across restarts.
    mqtt_url: str | None = None
    mqtt_client_id: str = "cityos-ingest"
    # Group commit: most measurements written in one transaction, and the longest a
    # measurement waits for its batch to fill [s].
    ingest_batch_size: int = Field(default=2000, ge=1, le=100_000)
    ingest_batch_wait: float = Field(default=0.02, ge=0, le=5)
    # The twin's live mode (docs/twin/live.md): simulated sensors fed through ingestion.
    # None means "off in test mode, on otherwise"; speed in simulated minutes per real
    # minute (60: one simulated minute per second); scale is the simulated population share.
    twin_live: Literal["on", "off"] | None = None
    twin_speed: float = Field(default=60.0, gt=0, le=100_000)
    twin_scale: float = Field(default=0.05, ge=0.001, le=1.0)
    # The simulated time of day live mode starts at, "HH:MM" in Asia/Seoul; None is now.
    # Set it to replay a chosen hour (a demonstration of the morning peak, a test).
    twin_start: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    # Where `cityos twin run` writes a run without --out, and what the scenario page lists.
    twin_runs_dir: Path = Path("var/twin-runs")
    # Hardening (cityos.security, docs/security.md). Rate limits: token buckets per client IP
    # and per API key or user; None means "off in test mode, on otherwise".
    rate_limit: Literal["on", "off"] | None = None
    # Sustained rate [requests/s] and burst [requests] of each bucket; None takes the mode's
    # default (production: IP 100/s burst 200, client 50/s burst 100; elsewhere 100 times that).
    rate_limit_ip_per_second: float | None = Field(default=None, gt=0)
    rate_limit_ip_burst: int | None = Field(default=None, ge=1)
    rate_limit_client_per_second: float | None = Field(default=None, gt=0)
    rate_limit_client_burst: int | None = Field(default=None, ge=1)
    # Origins a browser may call the API from (CORS), e.g. ["https://app.sejong.go.kr"];
    # none by default (same-origin only).
    cors_origins: list[str] = Field(default_factory=list)
    # The deployment is reached over HTTPS through a proxy: send HSTS, mark cookies Secure.
    behind_tls: bool = False
    # Outbound requests on a caller's say-so (complaint webhooks, NGSI-LD notifications) to
    # loopback, private, link-local or metadata addresses are refused (SSRF, docs/security.md)
    # except to these host names and CIDR blocks, e.g. ["10.20.0.0/16", "hooks.city.local"].
    # None means "127.0.0.0/8, ::1 and localhost in development and test modes, none in
    # production".
    outbound_allow: list[str] | None = None
    # Complaints (docs/governance/complaints.md, "Departments"): a JSON file naming which
    # department handles which service code; None: the table shipped with CityOS.
    complaint_departments_file: Path | None = None
    # Privacy (cityos.privacy). Data-encryption keys as "<key id>:<base64 of 32 bytes>"; the
    # first encrypts, all decrypt. Empty: one key derived from CITYOS_SECRET_KEY (id "s0").
    data_keys: list[str] = Field(default_factory=list, repr=False)
    # Key of the pseudonymous ids (HMAC-SHA256); empty: derived from CITYOS_SECRET_KEY. Keep it
    # for the life of the data: a new key gives every citizen a new pseudonym.
    pseudonym_key: str = Field(default="", repr=False)
    # How long each kind of personal data is kept [d]; the retention job erases older records.
    # A JSON object of kind -> days, merged over DEFAULT_RETENTION_DAYS (a kind is changed or
    # added, never dropped by leaving it out: its records would be erased at once).
    retention_days: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_RETENTION_DAYS))
    # Periodic jobs (cityos.jobs): None means "off in test mode, on otherwise".
    jobs: Literal["on", "off"] | None = None
    # How often the job runner looks for due jobs [s].
    jobs_tick_seconds: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgres://")):
            raise SettingsError(
                f"CITYOS_DATABASE_URL must start with sqlite:/// or postgresql:// "
                f"(got {value!r}); e.g. sqlite:///var/cityos.db or "
                "postgresql://postgres@127.0.0.1:5432/cityos"
            )
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url_readable(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise SettingsError(
                f"CITYOS_MQTT_URL must look like mqtt://127.0.0.1:1883 (got {value!r}); "
                "TLS (mqtts://) is not supported yet: keep the broker on the same host or a VPN"
            )
        return value

    @model_validator(mode="after")
    def _no_placeholder_secret_in_production(self) -> Settings:
        # Development and test modes run on a developer's machine with throw-away data; every
        # other mode (production) needs a real secret: the tokens and data keys derive from it.
        if self.mode == "production" and (
            self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < MIN_SECRET_LENGTH
        ):
            raise SettingsError(
                "CITYOS_SECRET_KEY is still the placeholder or shorter than "
                f"{MIN_SECRET_LENGTH} characters; set a long random value "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) "
                "before running in production mode"
            )
        return self

    @field_validator("data_keys")
    @classmethod
    def _data_keys_readable(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for number, entry in enumerate(value):
            key_id, _, encoded = entry.partition(":")
            try:
                # Strict: characters outside base64url are an error, not silently dropped.
                raw = base64.b64decode(
                    encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True
                )
            except ValueError:
                raw = b""
            if (
                not DATA_KEY_ID.match(key_id)
                or key_id == DERIVED_DATA_KEY_ID
                or len(raw) != 32
                or key_id in seen
            ):
                # Never echo the entry: it is a secret.
                raise SettingsError(
                    f"CITYOS_DATA_KEYS[{number}] must be '<id>:<base64 of 32 random bytes>' "
                    "with a unique id of 1-16 letters, digits, '_' or '-', not 's0' (make one with "
                    '`python -c \'import base64,os; print("k1:" + '
                    "base64.urlsafe_b64encode(os.urandom(32)).decode())'`)"
                )
            seen.add(key_id)
        return value

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins_exact(cls, value: list[str]) -> list[str]:
        for origin in value:
            # "*" with credentials would let any site act with a citizen's cookies.
            if not ORIGIN.match(origin):
                raise SettingsError(
                    f"CITYOS_CORS_ORIGINS: {origin!r} is not an origin like "
                    "https://app.example.kr (scheme, host, optional port; no '*', no path)"
                )
        return value

    @field_validator("outbound_allow")
    @classmethod
    def _outbound_allow_readable(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for entry in value:
            text = entry.strip().strip("[]")
            try:
                ipaddress.ip_network(text, strict=False)
                continue
            except ValueError:
                pass
            if not re.fullmatch(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?", text):
                raise SettingsError(
                    f"CITYOS_OUTBOUND_ALLOW: {entry!r}는 CIDR(예: 10.20.0.0/16)이나 호스트 이름이 "
                    f"아닙니다. / {entry!r} is neither a CIDR block (e.g. 10.20.0.0/16, ::1) nor "
                    "a host name (e.g. hooks.city.local)"
                )
        return value

    @field_validator("retention_days")
    @classmethod
    def _retention_positive(cls, value: dict[str, int]) -> dict[str, int]:
        bad = sorted(kind for kind, days in value.items() if not 1 <= days <= 36500)
        if bad:
            raise SettingsError(f"CITYOS_RETENTION_DAYS: days must be 1-36500 for {bad}")
        odd = sorted(kind for kind in value if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", kind))
        if odd:
            raise SettingsError(
                f"CITYOS_RETENTION_DAYS: {odd} are not kinds like 'steps' (a-z, 0-9, _; <= 40)"
            )
        return {**DEFAULT_RETENTION_DAYS, **value}

    @model_validator(mode="after")
    def _retry_initial_within_max(self) -> Settings:
        if self.notify_retry_initial > self.notify_retry_max:
            raise SettingsError(
                f"CITYOS_NOTIFY_RETRY_INITIAL({self.notify_retry_initial:g}초)이 "
                f"CITYOS_NOTIFY_RETRY_MAX({self.notify_retry_max:g}초)보다 깁니다: 첫 재시도 "
                "간격은 최대 간격 이하여야 합니다. / CITYOS_NOTIFY_RETRY_INITIAL "
                f"({self.notify_retry_initial:g} s) is longer than CITYOS_NOTIFY_RETRY_MAX "
                f"({self.notify_retry_max:g} s): the first retry wait must not exceed the "
                "longest one; lower the first or raise the maximum."
            )
        return self

    @model_validator(mode="after")
    def _auth_off_only_on_loopback(self) -> Settings:
        if self.auth == "off" and not is_loopback(self.host):
            raise SettingsError(
                f"CITYOS_AUTH=off은 루프백 주소(127.0.0.1, ::1, localhost)에서만 쓸 수 있습니다 "
                f"(현재 호스트 {self.host!r}). / CITYOS_AUTH=off is refused when listening on "
                f"{self.host!r}: authentication may be turned off only on a loopback address "
                "(127.0.0.0/8, ::1, localhost)."
            )
        return self

    @property
    def backend(self) -> Literal["sqlite", "postgresql"]:
        """Return which storage backend the database URL selects."""
        return "sqlite" if self.database_url.startswith("sqlite") else "postgresql"

    @property
    def sqlite_path(self) -> Path:
        """Return the SQLite database file path (``sqlite:///relative`` or ``////absolute``)."""
        if self.backend != "sqlite":
            raise SettingsError("sqlite_path asked of a PostgreSQL deployment")
        return Path(self.database_url.removeprefix("sqlite:///"))


def is_loopback(host: str) -> bool:
    """Return True when ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
