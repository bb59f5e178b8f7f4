"""Shared fixtures: one embedded PostgreSQL per test session, a fresh database per test."""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cpo.accounts.service import create_account, create_api_token
from cpo.app import create_app
from cpo.db.embedded import start_embedded
from cpo.db.engine import make_engine, make_sessionmaker, plain_url
from cpo.db.migrate import upgrade
from cpo.outbox.dispatcher import Handlers
from cpo.settings import DatabaseSettings, OcpiSettings, OutboxSettings, Settings
from cpo.tenants.service import create_tenant, ensure_tenant

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TEMPLATE = "cpo_template"
_numbers = itertools.count(1)


def shared_specs(*parts: str) -> Path:
    """A path under ../shared/specs (the OCPI spec text, its examples and the OpenAPI schemas).

    A clone without ../shared beside it skips the tests that read it, saying so once per test; under CI
    (``CI=true``) a missing folder fails them instead, so a broken CI checkout cannot pass by skipping.
    """
    path = SHARED.joinpath("specs", *parts)
    if path.exists():
        return path
    need = f"needs ../shared/specs (the OCPI spec examples and OpenAPI schemas): {path} is missing"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(need)
    pytest.skip(need)


def database_url(server_url: str, name: str) -> str:
    # The embedded server's URL names its database in the path: swap it.
    head, _, tail = server_url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{tail}" if tail else "")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of the session's PostgreSQL: CPO_TEST_DATABASE_URL if set, else an embedded server."""
    external = os.environ.get("CPO_TEST_DATABASE_URL")
    if external:
        return external
    return start_embedded(tmp_path_factory.mktemp("pg"))


@pytest.fixture(scope="session")
def template_database(pg_server: str) -> str:
    """A database migrated to head once; each test gets a copy of it."""

    async def create() -> None:
        connection = await asyncpg.connect(plain_url(pg_server))
        try:
            await connection.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            await connection.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await connection.close()

    asyncio.run(create())
    url = database_url(pg_server, TEMPLATE)
    upgrade(url)
    return url


@pytest.fixture
async def db_url(pg_server: str, template_database: str) -> AsyncIterator[str]:
    """A fresh database at head, dropped after the test."""
    name = f"test_{os.getpid()}_{next(_numbers)}"
    admin = await asyncpg.connect(plain_url(pg_server))
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    finally:
        await admin.close()
    yield database_url(pg_server, name)
    admin = await asyncpg.connect(plain_url(pg_server))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


async def create_database(pg_server: str, name: str) -> str:
    admin = await asyncpg.connect(plain_url(pg_server))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    finally:
        await admin.close()
    return database_url(pg_server, name)


@pytest.fixture(scope="module")
async def module_db_url(pg_server: str, template_database: str) -> str:
    """A database at head shared by one test module (for a server process that the module's tests share)."""
    return await create_database(pg_server, f"module_{os.getpid()}_{next(_numbers)}")


@pytest.fixture
async def db(module_db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the module's shared database, to look at what a module's server stored."""
    engine = make_engine(module_db_url, pool_size=2)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


def test_settings(db_url: str, tmp_path: Path, **outbox: float) -> Settings:
    return Settings(
        data_dir=tmp_path,
        log_json=False,
        database=DatabaseSettings(url=db_url, pool_size=4, migrate_on_start=False),
        outbox=replace(OutboxSettings(), poll_seconds=0.2, lease_seconds=2, **outbox),
        ocpi=OcpiSettings(allow_private_urls=True),  # the test partners serve plain http on loopback
    )


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return test_settings(db_url, tmp_path)


@pytest.fixture
def outbox_handlers() -> Handlers:
    return {}


@pytest.fixture
def app(settings: Settings, outbox_handlers: Handlers) -> Litestar:
    return create_app(settings, outbox_handlers)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as client:
        yield client


@dataclass
class Tenancy:
    """A tenant with one API token per role."""

    id: uuid.UUID
    slug: str
    admin: dict[str, str]
    read_only: dict[str, str]
    platform: dict[str, str]


async def make_tenancy(sessions: async_sessionmaker[AsyncSession], slug: str) -> Tenancy:
    async with sessions() as session, session.begin():
        tenant = await (ensure_tenant(session, slug) if slug == "default" else create_tenant(session, slug, slug))
        tokens = {}
        for role in ("tenant_admin", "read_only", "platform_admin"):
            tokens[role], _ = await create_api_token(session, tenant.id, role, f"{role} test")
    return Tenancy(
        tenant.id,
        slug,
        {"Authorization": f"Bearer {tokens['tenant_admin']}"},
        {"Authorization": f"Bearer {tokens['read_only']}"},
        {"Authorization": f"Bearer {tokens['platform_admin']}"},
    )


@pytest.fixture
async def tenant_a(client: AsyncTestClient[Litestar], sessions: async_sessionmaker[AsyncSession]) -> Tenancy:
    return await make_tenancy(sessions, "alpha")


@pytest.fixture
async def tenant_b(client: AsyncTestClient[Litestar], sessions: async_sessionmaker[AsyncSession]) -> Tenancy:
    return await make_tenancy(sessions, "bravo")


ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"


@pytest.fixture
async def ui_admin(client: AsyncTestClient[Litestar], sessions: async_sessionmaker[AsyncSession]) -> str:
    async with sessions() as session, session.begin():
        tenant = await ensure_tenant(session, "default")
        await create_account(session, tenant.id, ADMIN_EMAIL, "Ada Admin", ADMIN_PASSWORD, "tenant_admin")
    return ADMIN_EMAIL


@pytest.fixture
def artifacts() -> Iterator[Path]:
    path = ROOT / "artifacts"
    path.mkdir(exist_ok=True)
    yield path


SITE = {
    "name": "Head office",
    "address": "Kortrijksesteenweg 1",
    "city": "Gent",
    "postal_code": "9000",
    "country": "BEL",
    "latitude": 51.0543,
    "longitude": 3.7174,
    "time_zone": "Europe/Brussels",
}
