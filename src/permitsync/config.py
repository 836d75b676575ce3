"""Settings, read from the environment (prefix ``PERMITSYNC_``); nothing is built at import time.

A bad value is refused when :func:`load_settings` runs, with a message naming the variable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

#: A-13: Passport's rate limits are not public; we limit ourselves per operator.
DEFAULT_PASSPORT_RATE_PER_S = 20.0
#: The production host (fact); staging and development hosts are other values of the setting.
DEFAULT_PASSPORT_BASE_URL = "https://api.us.passportinc.com"
#: The audience of the client-credentials grant (fact, a setting).
DEFAULT_PASSPORT_AUDIENCE = "public.api.passportinc.com"
#: The events envelope's version (a setting, default from the contract).
DEFAULT_PASSPORT_EVENT_VERSION = "3.0.0"
#: Values that mean "not configured" and are refused as secrets.
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "password", "xxx", "todo"})


#: The shortest metrics token accepted.
MIN_METRICS_TOKEN_CHARS = 16


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unreadable URL>"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SettingsError(Exception):
    """The environment holds a value permitsync cannot run with; the message names the variable."""


class Settings(BaseSettings):
    """Every knob of a permitsync process."""

    model_config = SettingsConfigDict(env_prefix="PERMITSYNC_", extra="ignore")

    database_url: str = Field(default="sqlite:///./var/permitsync.db", min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    session_secret: SecretStr = SecretStr("")

    passport_base_url: str = DEFAULT_PASSPORT_BASE_URL
    passport_client_id: str = ""
    passport_client_secret: SecretStr = SecretStr("")
    passport_audience: str = DEFAULT_PASSPORT_AUDIENCE
    passport_event_version: str = DEFAULT_PASSPORT_EVENT_VERSION
    passport_connect_timeout_s: float = Field(default=3.0, gt=0, le=60)
    passport_read_timeout_s: float = Field(default=10.0, gt=0, le=300)
    passport_rate_per_s: float = Field(default=DEFAULT_PASSPORT_RATE_PER_S, gt=0, le=10_000)
    passport_rate_burst: int = Field(default=5, ge=1, le=1000)
    breaker_failure_threshold: int = Field(default=5, ge=1, le=1000)
    breaker_cooldown_s: float = Field(default=10.0, gt=0, le=3600)
    reconcile_interval_s: float = Field(default=900.0, ge=10, le=86400 * 7)

    sync_lease_s: float = Field(default=30.0, gt=0, le=3600)
    sync_claim_limit: int = Field(default=1000, ge=1, le=100_000)
    sync_concurrency: int = Field(default=16, ge=1, le=64)
    sync_poll_interval_s: float = Field(default=1.0, ge=0.05, le=60)
    sync_open_ended_horizon_days: float = Field(default=30.0, gt=0, le=3650)
    sync_request_log_days: int = Field(default=14, ge=1, le=3650)
    sync_heartbeat_stale_s: float = Field(default=600.0, ge=1, le=86400)
    metrics_count_interval_s: float = Field(default=15.0, ge=0, le=3600)
    run_worker: bool = True
    metrics_token: SecretStr = SecretStr("")
    # The setup workflow (issue 10).
    zones_refresh_interval_s: float = Field(default=3600.0, ge=10, le=86400 * 7)
    zones_retry_base_s: float = Field(default=5.0, gt=0, le=3600)
    zones_retry_max_s: float = Field(default=300.0, gt=0, le=86400)
    health_pending_threshold_s: float = Field(default=300.0, gt=0, le=86400)
    action_rate_per_min: float = Field(default=6.0, gt=0, le=6000)
    action_burst: int = Field(default=3, ge=1, le=1000)
    test_plate_timeout_s: float = Field(default=30.0, gt=0, le=300)
    # Notifications: email when SMTP_URL is set (it may hold a password: kept secret).
    smtp_url: SecretStr = SecretStr("")
    smtp_from: str = "permitsync <permitsync@localhost>"
    notify_retry_base_s: float = Field(default=5.0, gt=0, le=3600)
    notify_retry_max_s: float = Field(default=3600.0, gt=0, le=86400)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("passport_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        if value.startswith("http://") and not _is_loopback(urlsplit(value).hostname or ""):
            raise ValueError(
                "must be https:// (http:// would send the client secret in clear text; it is "
                "allowed only for a simulator on this machine: 127.0.0.1, ::1, localhost)"
            )
        return value.rstrip("/")

    @field_validator("metrics_token")
    @classmethod
    def _long_token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if token and len(token) < MIN_METRICS_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_METRICS_TOKEN_CHARS} characters")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url:
            from permitsync.adapters.notify.smtp import SmtpTarget  # noqa: PLC0415

            SmtpTarget.parse(url)
        return value

    @field_validator("passport_client_secret")
    @classmethod
    def _no_placeholder(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; set the real client secret")
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, object]]:
        """``repr(settings)`` without the database password (secrets are SecretStr already)."""
        for name, value in super().__repr_args__():
            if name == "database_url" and isinstance(value, str):
                yield name, masked_url(value)
            else:
                yield name, value

    @property
    def is_sqlite(self) -> bool:
        """True when the database is SQLite (one process, in-process wake-ups)."""
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Read the settings; raise :class:`SettingsError` naming each bad ``PERMITSYNC_`` variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "PERMITSYNC_" + "_".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
