"""Schema migrations through Alembic, driven from code (``cpo db upgrade|current``, startup, tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str, sealer: Any = None) -> Config:
    """``sealer`` (``cpo.roaming.sealing.Sealer``): for a downgrade past 0016, which opens sealed secrets."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["sealer"] = sealer
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``; blocking (call from a thread inside an event loop)."""
    command.upgrade(alembic_config(url), revision)


def head_revisions() -> set[str]:
    return set(ScriptDirectory(str(MIGRATIONS)).get_heads())


def current_revisions(connection: Connection) -> set[str]:
    """The revisions the database is at (read through a sync connection, e.g. ``run_sync``)."""
    return set(MigrationContext.configure(connection).get_current_heads())
