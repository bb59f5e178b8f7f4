"""What a running node holds: settings, the database engine, the outbox dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cpo.accounts.second_factor import seal_clear_secrets
from cpo.db import migrate
from cpo.db.base import utcnow
from cpo.db.embedded import start_embedded
from cpo.db.engine import make_engine, make_sessionmaker
from cpo.outbox.dispatcher import Dispatcher, Handlers
from cpo.people.gdpr import purge_expired
from cpo.roaming.sealing import sealer_for
from cpo.settings import Settings
from cpo.tenants.service import ensure_tenant

log = logging.getLogger("cpo")
HOUSEKEEPING_SECONDS = 3600.0
HOUSEKEEPING_LOCK = 0x43504F2D484B  # "CPO-HK": one key for the whole platform


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or the embedded PostgreSQL's (started here if need be). Blocking."""
    return settings.database.url or start_embedded(settings.data_dir)


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    head_revisions: set[str] = field(default_factory=migrate.head_revisions)
    dispatcher: Dispatcher | None = None
    _dispatcher_task: asyncio.Task[None] | None = None
    _housekeeping_task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, settings: Settings, handlers: Handlers, *, migrate_schema: bool = True) -> Runtime:
        url = await asyncio.to_thread(resolve_database_url, settings)
        if migrate_schema:
            await asyncio.to_thread(migrate.upgrade, url)
        engine = make_engine(url, pool_size=settings.database.pool_size, echo=settings.database.echo)
        runtime = cls(settings, url, engine, make_sessionmaker(engine))
        sealer = await asyncio.to_thread(sealer_for, settings)  # may make the key file: off the event loop
        async with runtime.sessions() as session, session.begin():
            await ensure_tenant(session, settings.default_tenant)
            await seal_clear_secrets(session, sealer)
        if settings.outbox.enabled:
            runtime.dispatcher = Dispatcher(runtime.sessions, url, handlers, settings.outbox)
            runtime._dispatcher_task = asyncio.create_task(runtime._run_dispatcher(), name="outbox-dispatcher")
        runtime._housekeeping_task = asyncio.create_task(runtime._housekeeping(), name="housekeeping")
        return runtime

    async def _housekeeping(self, every: float = HOUSEKEEPING_SECONDS) -> None:
        """Retention purges, once an hour, by one node at a time (an advisory lock elects it)."""
        while True:
            await asyncio.sleep(every)
            try:
                async with self.sessions() as session, session.begin():
                    if await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": HOUSEKEEPING_LOCK}):
                        purged = await purge_expired(session, utcnow())
                        if any(purged.values()):
                            log.info("retention purge", extra=purged)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping failed")

    async def _run_dispatcher(self) -> None:
        assert self.dispatcher is not None
        try:
            await self.dispatcher.run()
        except Exception:
            log.exception("outbox dispatcher stopped on an error")
            raise

    async def ready(self) -> tuple[bool, str]:
        """Database reachable and its schema at the head revision."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                current = await connection.run_sync(migrate.current_revisions)
        except Exception as error:
            return False, f"database unreachable: {type(error).__name__}"
        if current != self.head_revisions:
            return False, f"schema at {sorted(current)}, code expects {sorted(self.head_revisions)}"
        return True, "ready"

    async def stop(self) -> None:
        if self._housekeeping_task is not None:
            self._housekeeping_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping_task
        if self.dispatcher is not None and self._dispatcher_task is not None:
            self.dispatcher.stop()
            try:
                await asyncio.wait_for(self._dispatcher_task, timeout=10)
            except (TimeoutError, Exception):
                self._dispatcher_task.cancel()
        await self.engine.dispose()
