"""Async engine and session factory on asyncpg."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg form of any PostgreSQL URL."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg"))


def plain_url(url: str) -> str:
    """The libpq/asyncpg form (no SQLAlchemy driver suffix), for raw connections such as LISTEN."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # Under a reconnect storm thousands of messages want a connection at once: queue, do not fail.
        pool_timeout=120,
        echo=echo,
        # Errors never carry the statement's values (password hashes, names, e-mails) into logs.
        hide_parameters=True,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit: transports render what they just stored.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
