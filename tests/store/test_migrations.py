"""The Alembic chain: one head, and the migrated schema is exactly what the models say."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from cloudcpe.store.db import make_engine
from cloudcpe.store.migrate import alembic_config, downgrade, upgrade
from cloudcpe.store.models import Base


def test_one_head(migrated_url: str) -> None:
    heads = ScriptDirectory.from_config(alembic_config(migrated_url)).get_heads()
    assert len(heads) == 1, f"migration branches to merge: {heads}"


def test_migrated_schema_matches_the_models(migrated_url: str) -> None:
    engine = make_engine(migrated_url, pooled=False)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_downgrade_to_nothing_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cycle.db'}"
    upgrade(url)
    downgrade(url, "base")
    engine = make_engine(url, pooled=False)
    with engine.connect() as conn:
        tables = set(conn.dialect.get_table_names(conn)) - {"alembic_version"}
    engine.dispose()
    assert tables == set()
    upgrade(url)
