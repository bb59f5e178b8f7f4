"""Settings read from the environment (prefix ``CPO_``), grouped in frozen dataclasses."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cpo.errors import InvalidInput
from cpo.network import Network, parse_networks

ENV_PREFIX = "CPO_"


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str | None = None
    """A PostgreSQL URL; ``None`` starts the embedded PostgreSQL under the data directory."""
    pool_size: int = 10
    echo: bool = False
    migrate_on_start: bool = True


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    public_url: str | None = None
    """How stations and browsers reach this node (e.g. ``https://cpo.example.com``)."""
    metrics_token: str | None = None
    """When set, ``/metrics`` wants ``Authorization: Bearer <token>``."""
    trusted_proxies: tuple[Network, ...] = ()
    """Proxies in front of the platform: only when the direct peer is one of them are its X-Forwarded-For
    (the client's address, for throttles) and X-Forwarded-Proto (TLS at the proxy, profile 2) believed."""


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    session_hours: int = 12
    secure_cookies: bool = False
    secret_key: str | None = None
    """Encrypts secrets at rest (roaming partners' tokens). Every node needs the same; without it a key file
    is made in the data directory (fine for one machine)."""


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    enabled: bool = True
    lease_seconds: float = 60.0
    poll_seconds: float = 5.0
    max_attempts: int = 25


@dataclass(frozen=True, slots=True)
class OcppSettings:
    heartbeat_seconds: int = 300
    """The interval stations are told to send Heartbeat at."""
    retry_boot_seconds: int = 60
    """When a Pending or Rejected station should boot again."""
    liveness_factor: float = 2.5
    """A station silent for this many heartbeat intervals is disconnected and offline."""
    probe_seconds: float = 150.0
    """A station silent this long is asked for a Heartbeat (TriggerMessage); no answer, and it is offline."""
    node_beat_seconds: float = 5.0
    node_timeout_seconds: float = 30.0
    """A node silent this long is dead: its stations show offline everywhere."""
    call_timeout_seconds: float = 30.0
    max_frame_bytes: int = 1_000_000
    """Larger frames get a CallError; frames over four times this close the connection (1009)."""
    ping_seconds: float = 60.0
    """Websocket ping interval and pong deadline: a station that misses a pong is disconnected (0: off)."""
    local_lists: bool = True
    """Keep stations' local authorization lists in step with badges (SendLocalList)."""
    list_check_delay_seconds: float = 60.0
    """After a connect, wait this long (plus up to as long again, at random) before checking the station's
    list: a node restart brings thousands of stations at once, and their own messages come first."""
    pending_stations_max: int = 20
    """Stations registered by themselves and waiting for acceptance, at most, per tenant."""
    unknown_identities_per_address: int = 10
    """Connections to identities we do not know, per client address and five minutes (per node); more get 429."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    cert_file: Path | None = None
    """Server certificate (PEM): with the key, the main port speaks TLS (wss://, security profile 2)."""
    key_file: Path | None = None
    client_ca_file: Path | None = None
    """CA that signs station certificates: turns on the client-certificate port (security profile 3)."""
    client_port: int | None = None
    client_organization: str | None = None
    """If set, a station certificate's O must be this (OCPP security A00.FR.404)."""

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None and self.key_file is not None


@dataclass(frozen=True, slots=True)
class OcpiSettings:
    allow_private_urls: bool = False
    """Let partner URLs be plain http and point at loopback or private addresses. For tests and closed
    networks only: anyone who can give us a URL (a Token A holder, a partner, a tenant admin) could then make
    this server call its internal services."""


@dataclass(frozen=True, slots=True)
class PaymentSettings:
    """Ad-hoc card payments (QR pay page). Without keys the pay page says card payment is not set up."""

    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    """Another Stripe-compatible server (a test server); None: Stripe itself."""
    hold_minor: int = 5000
    """What is held on the card before a session starts, in minor units (EUR 50.00)."""
    stop_margin_minor: int = 100
    """The session is stopped once its running cost comes this close to the hold."""
    plug_in_seconds: int = 600
    """After a start, the car must be plugged in and charging within this time, or the hold is released."""
    expiry_margin_seconds: int = 6 * 3600
    """A paid session still running this close to the hold's expiry is stopped and settled while it can be."""
    sweep_seconds: float = 30.0
    """How often open payments are looked at (no car plugged in, cost near the hold, settlements to retry)."""
    stripe_js_url: str = "https://js.stripe.com/v3/"
    starts_per_address: int = 20
    """New card payments one client address may open in ``starts_window_seconds`` (each opens a hold at the
    processor); more are answered 429. Counted per node; addresses behind one mobile NAT share it."""
    starts_per_evse: int = 6
    """New card payments one EVSE may get in ``starts_window_seconds`` (counted in the database, all nodes)."""
    starts_window_seconds: int = 600
    smtp_url: str | None = None
    """``smtp://user:password@host:587`` (STARTTLS when offered) or ``smtps://...``: e-mailed receipts; None: none."""
    mail_from: str = "noreply@localhost"

    @property
    def enabled(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_publishable_key)


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("var")
    log_level: str = "INFO"
    log_json: bool = True
    default_tenant: str = "default"
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    ocpp: OcppSettings = field(default_factory=OcppSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    payments: PaymentSettings = field(default_factory=PaymentSettings)
    ocpi: OcpiSettings = field(default_factory=OcpiSettings)

    @property
    def base_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = "localhost" if self.server.host in ("0.0.0.0", "::", "127.0.0.1") else self.server.host  # noqa: S104
        scheme = "https" if self.tls.enabled else "http"
        return f"{scheme}://{host}:{self.server.port}"

    @property
    def ocpp_url(self) -> str:
        base = self.base_url
        return ("wss" + base[5:] if base.startswith("https") else "ws" + base[4:]) + "/ocpp/"


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise InvalidInput(name, f"expected a boolean (true/false), got {raw!r}")


def _int(name: str, raw: str, *, minimum: int = 0, maximum: int = 2**31) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(name, f"expected an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise InvalidInput(name, f"must be between {minimum} and {maximum}, got {value}")
    return value


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(name, f"expected a number, got {raw!r}") from None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``CPO_*`` variables; a bad value raises ``InvalidInput`` naming the variable."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(ENV_PREFIX + name)
        return value if value not in (None, "") else None

    def flag(name: str, default: bool) -> bool:
        value = get(name)
        return default if value is None else _bool(ENV_PREFIX + name, value)

    def integer(name: str, default: int, minimum: int, maximum: int) -> int:
        value = get(name)
        return default if value is None else _int(ENV_PREFIX + name, value, minimum=minimum, maximum=maximum)

    def number(name: str, default: float) -> float:
        value = get(name)
        return default if value is None else _float(ENV_PREFIX + name, value)

    def path(name: str) -> Path | None:
        value = get(name)
        if value is None:
            return None
        if not Path(value).is_file():
            raise InvalidInput(ENV_PREFIX + name, f"no such file: {value}")
        return Path(value)

    log_level = (get("LOG_LEVEL") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise InvalidInput("CPO_LOG_LEVEL", "must be DEBUG, INFO, WARNING or ERROR")
    url = get("DATABASE_URL")
    if url is not None and not url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        raise InvalidInput("CPO_DATABASE_URL", "must be a postgresql:// URL")
    try:
        proxies = parse_networks(get("TRUSTED_PROXIES") or "")
    except ValueError as error:
        raise InvalidInput("CPO_TRUSTED_PROXIES", f"addresses or networks (10.0.0.1, 10.0.0.0/8): {error}") from None
    # CPO_TRUST_PROXY used to believe every client's forwarded headers; alone it would now believe nobody, so a
    # deployment that relied on it stops with the fix named instead of silently refusing its profile-2 stations.
    if flag("TRUST_PROXY", False) and not proxies:
        raise InvalidInput("CPO_TRUST_PROXY", "is replaced by CPO_TRUSTED_PROXIES: set it to the proxies' addresses")

    return Settings(
        data_dir=Path(get("DATA_DIR") or "var"),
        log_level=log_level,
        log_json=flag("LOG_JSON", True),
        default_tenant=get("DEFAULT_TENANT") or "default",
        database=DatabaseSettings(
            url=url,
            pool_size=integer("DATABASE_POOL_SIZE", 10, 1, 500),
            echo=flag("DATABASE_ECHO", False),
            migrate_on_start=flag("DATABASE_MIGRATE", True),
        ),
        server=ServerSettings(
            host=get("HOST") or "127.0.0.1",
            port=integer("PORT", 8080, 0, 65535),
            workers=integer("WORKERS", 1, 1, 64),
            public_url=get("PUBLIC_URL"),
            metrics_token=get("METRICS_TOKEN"),
            trusted_proxies=proxies,
        ),
        security=SecuritySettings(
            session_hours=integer("SESSION_HOURS", 12, 1, 24 * 30),
            secure_cookies=flag("SECURE_COOKIES", False),
            secret_key=get("SECRET_KEY"),
        ),
        outbox=OutboxSettings(
            enabled=flag("OUTBOX_ENABLED", True),
            lease_seconds=number("OUTBOX_LEASE_SECONDS", 60.0),
            poll_seconds=number("OUTBOX_POLL_SECONDS", 5.0),
            max_attempts=integer("OUTBOX_MAX_ATTEMPTS", 25, 1, 1000),
        ),
        tls=TlsSettings(
            cert_file=path("TLS_CERT"),
            key_file=path("TLS_KEY"),
            client_ca_file=path("TLS_CLIENT_CA"),
            client_port=integer("TLS_CLIENT_PORT", 0, 0, 65535) or None,
            client_organization=get("TLS_CLIENT_ORGANIZATION"),
        ),
        ocpp=OcppSettings(
            heartbeat_seconds=integer("OCPP_HEARTBEAT_SECONDS", 300, 10, 86400),
            retry_boot_seconds=integer("OCPP_RETRY_BOOT_SECONDS", 60, 5, 86400),
            probe_seconds=number("OCPP_PROBE_SECONDS", 150.0),
            node_beat_seconds=number("OCPP_NODE_BEAT_SECONDS", 5.0),
            node_timeout_seconds=number("OCPP_NODE_TIMEOUT_SECONDS", 30.0),
            call_timeout_seconds=number("OCPP_CALL_TIMEOUT_SECONDS", 30.0),
            max_frame_bytes=integer("OCPP_MAX_FRAME_BYTES", 1_000_000, 1024, 64_000_000),
            ping_seconds=number("OCPP_PING_SECONDS", 60.0),
            local_lists=flag("OCPP_LOCAL_LISTS", True),
            list_check_delay_seconds=number("OCPP_LIST_CHECK_DELAY_SECONDS", 60.0),
            pending_stations_max=integer("OCPP_PENDING_STATIONS_MAX", 20, 0, 100_000),
            unknown_identities_per_address=integer("OCPP_UNKNOWN_IDENTITIES_PER_ADDRESS", 10, 1, 100_000),
        ),
        ocpi=OcpiSettings(allow_private_urls=flag("OCPI_ALLOW_PRIVATE_URLS", False)),
        payments=PaymentSettings(
            stripe_secret_key=get("STRIPE_SECRET_KEY"),
            stripe_publishable_key=get("STRIPE_PUBLISHABLE_KEY"),
            stripe_webhook_secret=get("STRIPE_WEBHOOK_SECRET"),
            stripe_api_base=get("STRIPE_API_BASE"),
            hold_minor=integer("PAYMENT_HOLD_MINOR", 5000, 100, 100_000_00),
            stop_margin_minor=integer("PAYMENT_STOP_MARGIN_MINOR", 100, 0, 100_000),
            plug_in_seconds=integer("PAYMENT_PLUG_IN_SECONDS", 600, 5, 4 * 3600),
            expiry_margin_seconds=integer("PAYMENT_EXPIRY_MARGIN_SECONDS", 6 * 3600, 60, 3 * 86400),
            sweep_seconds=number("PAYMENT_SWEEP_SECONDS", 30.0),
            stripe_js_url=get("STRIPE_JS_URL") or "https://js.stripe.com/v3/",
            starts_per_address=integer("PAYMENT_STARTS_PER_ADDRESS", 20, 1, 100_000),
            starts_per_evse=integer("PAYMENT_STARTS_PER_EVSE", 6, 1, 100_000),
            starts_window_seconds=integer("PAYMENT_STARTS_WINDOW_SECONDS", 600, 10, 86_400),
            smtp_url=get("SMTP_URL"),
            mail_from=get("MAIL_FROM") or "noreply@localhost",
        ),
    )
