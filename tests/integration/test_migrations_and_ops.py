"""Migrations agree with the models; health, readiness and metrics endpoints."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from cpo.app import create_app
from cpo.db.engine import make_engine, plain_url
from cpo.db.migrate import head_revisions, upgrade
from cpo.db.models import Base
from cpo.settings import Settings
from tests.conftest import database_url

Client = AsyncTestClient[Litestar]


async def test_upgrade_head_on_an_empty_database_matches_the_models(pg_server: str) -> None:
    admin = await asyncpg.connect(plain_url(pg_server))
    await admin.execute("DROP DATABASE IF EXISTS migration_check WITH (FORCE)")
    await admin.execute("CREATE DATABASE migration_check")
    url = database_url(pg_server, "migration_check")
    try:
        await asyncio.to_thread(upgrade, url)
        await asyncio.to_thread(upgrade, url)  # a second run (another node starting) is a no-op
        engine = make_engine(url, pool_size=1)

        def diff(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        try:
            async with engine.connect() as connection:
                assert await connection.run_sync(diff) == []
                revision = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
                assert {revision} == head_revisions()
        finally:
            await engine.dispose()
    finally:
        await admin.execute("DROP DATABASE IF EXISTS migration_check WITH (FORCE)")
        await admin.close()


async def test_health_and_readiness(client: Client) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.text == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_readiness_fails_when_the_schema_is_not_current(client: Client, engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert "older" in ready.json()["detail"]


async def test_metrics_are_prometheus_text_with_request_counts(client: Client) -> None:
    await client.get("/healthz")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "cpo_requests_total" in metrics.text
    assert 'path="/healthz"' in metrics.text


async def test_openapi_document_lists_the_api_and_docs_load_assets_locally(client: Client) -> None:
    schema = (await client.get("/api/docs/openapi.json")).json()
    assert "/api/v1/sites" in schema["paths"] and "/api/v1/stations/{station_id}" in schema["paths"]
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    page = await client.get("/api/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "/static/swagger/swagger-ui-bundle.js" in page.text
    asset = await client.get("/static/swagger/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


async def test_metrics_label_routes_not_raw_paths(client: Client) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for id_ in ids:
        await client.get(f"/api/v1/sites/{id_}")
    await client.get("/no/such/path/at/all")
    text = (await client.get("/metrics")).text
    assert not any(id_ in text for id_ in ids) and "/no/such/path" not in text
    assert 'path="/api/v1/sites/{site_id}"' in text


async def test_metrics_can_require_a_token(settings: Settings) -> None:
    guarded = create_app(replace(settings, server=replace(settings.server, metrics_token="scrape-me")), {})
    async with AsyncTestClient(app=guarded) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})).status_code == 200
