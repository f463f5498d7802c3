"""The one settings object, read from ``CERTIFY_*`` environment variables.

Names and defaults: README.md, "Operating"; the limits among them: docs/RULES.md, "Limits".
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from resolvers.lifecycle_policy import (
    DEFAULT_CLAIM_REMINDERS,
    DEFAULT_CLAIM_WINDOW,
    DEFAULT_EXPIRY_REMINDER,
    MAX_DURATION,
    LifecyclePolicy,
)

log = logging.getLogger(__name__)

DEV_JWT_SECRET = "certify-dev-secret-change-me-0123456789abcdef"
DEV_FILE_URL_SECRET = "certify-dev-file-url-secret-change-me-0123456789"


class Settings(BaseSettings):
    """Every setting of the service; construct one per process and pass it down.

    Paths are absolute after validation. ``jwt_public_key`` (PEM), when set,
    switches token verification from HS256 with ``jwt_secret`` to RS256.
    """

    model_config = SettingsConfigDict(env_prefix="CERTIFY_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    broadcast_url: str = "memory://"
    jwt_secret: str = DEV_JWT_SECRET
    jwt_public_key: str | None = None
    jwt_private_key: str | None = None
    jwt_issuer: str = "certify"
    jwt_audience: str = "certify-api"
    environment: Literal["development", "production"] = "development"
    file_url_secret: str | None = Field(default=None, min_length=32)
    smtp_url: str | None = None
    smtp_from: str = "Certify <no-reply@certify.localhost>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    chromium_path: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    signed_url_ttl_seconds: int = Field(default=900, ge=10, le=86_400)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_max_attempts: int = Field(default=20, ge=1)
    render_concurrency: int = Field(default=3, ge=1, le=16)
    renders_per_context: int = Field(default=100, ge=1)
    render_max_attempts: int = Field(default=3, ge=1)
    render_enabled: bool = True
    render_timeout_seconds: float = Field(default=20.0, gt=0)
    render_retry_seconds: float = Field(default=5.0, gt=0)
    render_lease_seconds: float = Field(default=30.0, gt=0)
    render_poll_seconds: float = Field(default=1.0, gt=0)
    render_browser_idle_seconds: float | None = Field(default=60.0, gt=0)
    """Chromium and its Playwright driver are closed after this long without a render; ``never``: kept open."""
    request_body_idle_seconds: float = Field(default=30.0, gt=0)
    request_body_total_seconds: float = Field(default=180.0, gt=0)
    websocket_init_timeout_seconds: float = Field(default=5.0, gt=0)
    websocket_send_timeout_seconds: float = Field(default=10.0, gt=0)
    websocket_ping_seconds: float = Field(default=15.0, gt=0)
    websocket_origins: str = ""
    channel_prefix: str = ""
    broadcast_timeout_seconds: float = Field(default=2.0, gt=0)
    broadcast_health_seconds: float = Field(default=5.0, gt=0)
    subscriber_queue_size: int = Field(default=1000, ge=1)
    live_query_window_seconds: float = Field(default=0.15, ge=0)
    max_query_cost: int = Field(default=50_000, ge=1)
    rate_limit_enabled: bool = True
    rate_limit_points_per_minute: int = Field(default=300_000, ge=1)
    anonymous_rate_limit_points_per_minute: int = Field(default=600, ge=1)
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    shutdown_grace_seconds: float = Field(default=30.0, gt=0)
    http_keep_alive_seconds: int = Field(default=75, ge=1)
    """How long ``certify serve`` keeps an idle HTTP/1.1 connection open for its next request (seconds). Above
    the 60 s idle timeout of common load balancers and proxies, so that the server never closes a connection
    the client in front of it is about to reuse (which fails the request sent on it); nginx's default is 75."""
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"
    """``auto``: text when stderr is a terminal, JSON otherwise (:mod:`server.logs`)."""
    metrics_enabled: bool = True
    metrics_token: str | None = None
    """When set, ``GET /metrics`` needs ``Authorization: Bearer <it>`` (:mod:`server.metrics`)."""
    claim_window: timedelta = DEFAULT_CLAIM_WINDOW
    """ISO 8601 duration (``P90D``) from certification to the claim deadline."""
    claim_reminders: Annotated[tuple[timedelta, ...], NoDecode] = DEFAULT_CLAIM_REMINDERS
    """Comma-separated ISO 8601 durations before the claim deadline (``P14D,P3D``); empty: no reminders."""
    expiry_reminder: timedelta = DEFAULT_EXPIRY_REMINDER
    """ISO 8601 duration before an issued certificate's expiry when its holder is told (``P30D``)."""
    scheduler_seconds: float = Field(default=60.0, gt=0)
    """How often the lifecycle job looks for reminders, lapses and expiries."""
    issuer_key_file: Path | None = None
    """The issuer's Ed25519 key ring (``credentials.keys``); unset: ``issuer-keys.json`` in the data
    directory, generated on first start."""
    status_list_max_age_seconds: int = Field(default=60, ge=0, le=3600)
    """How long clients may cache a revocation status list (``Cache-Control: max-age``)."""
    migrate_on_start: bool = True
    in_process_workers: bool = True
    """Run the outbox and the render queue inside the API process; false when ``certify worker`` runs them."""

    @field_validator("claim_reminders", mode="before")
    @classmethod
    def _split_reminders(cls, value):
        """``"P14D,P3D"`` → ``("P14D", "P3D")`` for pydantic to parse; other shapes pass through."""
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("render_browser_idle_seconds", mode="before")
    @classmethod
    def _never(cls, value):
        """``"never"`` (any case) → None: the browser is never closed for idleness."""
        if isinstance(value, str) and value.strip().lower() == "never":
            return None
        return value

    @field_validator("claim_window", "expiry_reminder")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0) or value > MAX_DURATION:
            raise ValueError("must be a positive duration of at most ten years (P3650D)")
        return value

    @field_validator("claim_reminders")
    @classmethod
    def _positive_leads(cls, value: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        """Each lead positive, longest first, duplicates dropped."""
        if any(lead <= timedelta(0) or lead > MAX_DURATION for lead in value):
            raise ValueError("every reminder must be a positive duration of at most ten years (P3650D)")
        return tuple(sorted(set(value), reverse=True))

    @property
    def lifecycle_policy(self) -> LifecyclePolicy:
        """The claim window and reminder leads as the workflow reads them."""
        return LifecyclePolicy(self.claim_window, self.claim_reminders, self.expiry_reminder)

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if self.database_url is None:
            self.database_url = f"sqlite://{self.data_dir / 'certify.sqlite3'}"
        self.public_url = self.public_url.rstrip("/")
        if self.environment == "production" and self.file_url_secret is None:
            raise ValueError("CERTIFY_FILE_URL_SECRET must be set when CERTIFY_ENVIRONMENT=production")
        if self.rate_limit_points_per_minute < self.max_query_cost:
            raise ValueError("CERTIFY_RATE_LIMIT_POINTS_PER_MINUTE must be at least CERTIFY_MAX_QUERY_COST")
        return self

    @property
    def websocket_origin_list(self) -> list[str]:
        """``CERTIFY_WEBSOCKET_ORIGINS`` as a list (comma-separated origins, ``*`` for any)."""
        return [item.strip() for item in self.websocket_origins.split(",") if item.strip()]

    @property
    def outbox_dir(self) -> Path:
        """Where e-mails are written as ``.eml`` files when no SMTP server is configured."""
        return self.data_dir / "outbox"

    @property
    def issuer_key_path(self) -> Path:
        """Where the issuer's key ring is: ``CERTIFY_ISSUER_KEY_FILE`` or ``issuer-keys.json`` in the data directory."""
        return (self.issuer_key_file or self.data_dir / "issuer-keys.json").expanduser().resolve()

    @property
    def files_dir(self) -> Path:
        """Root of the local file storage (photos, PDFs, PNGs)."""
        return self.data_dir / "files"

    @property
    def uses_dev_secret(self) -> bool:
        """True when the built-in development JWT secret is in use (HS256 tokens anyone can mint)."""
        return self.jwt_secret == DEV_JWT_SECRET

    @property
    def file_url_signing_secret(self) -> str:
        """The secret of signed file and export URLs: ``CERTIFY_FILE_URL_SECRET``, else the development one."""
        return self.file_url_secret if self.file_url_secret is not None else DEV_FILE_URL_SECRET

    def warn_if_insecure(self) -> None:
        """Log loudly when the built-in development JWT secret is in use."""
        if self.uses_dev_secret:
            log.warning(
                "CERTIFY_JWT_SECRET is not set: using the built-in development secret. "
                "Anyone can mint tokens (HS256) and file URLs for this server. "
                "Set CERTIFY_JWT_SECRET in production."
            )
        if self.file_url_secret is None:
            log.warning(
                "CERTIFY_FILE_URL_SECRET is not set: using the built-in development secret. "
                "Anyone can make file and export URLs for this server. "
                "Set it (at least 32 characters); CERTIFY_ENVIRONMENT=production refuses to start without it."
            )
