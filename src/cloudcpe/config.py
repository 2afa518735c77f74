"""Settings, read from the environment (prefix CLOUDCPE_)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("/var/lib/cloudcpe")


class Settings(BaseSettings):
    """`CLOUDCPE_DATA_DIR` (default /var/lib/cloudcpe) holds the SQLite database;
    `CLOUDCPE_DATABASE_URL` overrides it (e.g. postgresql+psycopg://user:pw@host/db)."""

    model_config = SettingsConfigDict(env_prefix="CLOUDCPE_")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    lease_seconds: float = 30.0  # an operation whose worker stops renewing is taken over after this
    # zero-touch activation: how long an activation code stays valid (default 7 days)
    activation_ttl_seconds: float = 7 * 24 * 3600.0
    # agent-managed hosts: how long an LCM step waits for the host to confirm a version
    agent_confirm_seconds: float = 30.0

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'cloudcpe.db'}"
