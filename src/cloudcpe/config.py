"""Settings, read from the environment (prefix CLOUDCPE_)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("/var/lib/cloudcpe")


class Settings(BaseSettings):
    """`CLOUDCPE_DATA_DIR` (default /var/lib/cloudcpe) holds the SQLite database and the
    catalog's package storage (`catalog/`); `CLOUDCPE_DATABASE_URL` overrides the database
    (e.g. postgresql+psycopg://user:pw@host/db). Package limits: `CLOUDCPE_PACKAGE_MAX_BYTES`
    (an upload, default 256 MiB), `CLOUDCPE_PACKAGE_MAX_UNPACKED_BYTES` (1 GiB),
    `CLOUDCPE_PACKAGE_MAX_FILES` (10,000), `CLOUDCPE_PACKAGE_MAX_RATIO` (200: compression
    ratio of one member), `CLOUDCPE_UPLOAD_FROM_URI_TIMEOUT` (60 s for a whole download).
    `CLOUDCPE_SOL005_PAGE_SIZE` (100): items per page of an SOL005 list."""

    model_config = SettingsConfigDict(env_prefix="CLOUDCPE_")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    lease_seconds: float = 30.0  # an operation whose worker stops renewing is taken over after this
    package_max_bytes: int = 256 * 1024 * 1024
    package_max_unpacked_bytes: int = 1024 * 1024 * 1024
    package_max_files: int = 10_000
    package_max_ratio: int = 200
    upload_from_uri_timeout: float = 60.0
    sol005_page_size: int = 100
    # zero-touch activation: how long an activation code stays valid (default 7 days)
    activation_ttl_seconds: float = 7 * 24 * 3600.0
    # agent-managed hosts: how long an LCM step waits for the host to confirm a version
    agent_confirm_seconds: float = 30.0
    # notification delivery: the first retry after this many seconds, doubled per attempt
    notify_backoff: float = 1.0

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'cloudcpe.db'}"
