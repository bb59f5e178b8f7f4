"""Property-based requests for every /api/v1 operation, generated from the platform's own OpenAPI document.

Schemathesis sends valid and invalid requests (with a tenant administrator's token) to the app in-process,
on a real PostgreSQL database, and checks each answer: never a 5xx, a status code the document declares, and
a body and content type that match it. ``make test`` runs a few examples per operation; ``make fuzz`` many
(``CPO_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from schemathesis import checks
from schemathesis.python import asgi
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.app import create_app
from cpo.db.engine import make_engine, make_sessionmaker
from cpo.settings import OutboxSettings, Settings
from cpo.sites import service as sites
from cpo.sites.schemas import SiteIn, StationIn
from tests.conftest import SITE, make_tenancy
from tests.conftest import test_settings as settings_for

EXAMPLES = int(os.environ.get("CPO_FUZZ_EXAMPLES", "4"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_settings(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    base = settings_for(module_db_url, tmp_path_factory.mktemp("fuzz"))
    # No background deliveries: the outbox would call partners and webhooks the generated data names.
    return replace(base, outbox=replace(OutboxSettings(), enabled=False))


@pytest.fixture(scope="module")
def fuzz_app(fuzz_settings: Settings) -> Iterator[Litestar]:
    app = create_app(fuzz_settings)
    yield app
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
async def admin_headers(fuzz_app: Litestar, module_db_url: str) -> dict[str, str]:
    """A tenant administrator's token; and a site with a station, so that the lists answer with rows too."""
    engine = make_engine(module_db_url, pool_size=1)
    sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(engine)
    try:
        tenancy = await make_tenancy(sessions, "default")
        async with sessions() as session, session.begin():
            site = await sites.create_site(session, tenancy.id, msgspec.convert(SITE, SiteIn))
            await sites.create_station(session, tenancy.id, StationIn(site_id=site.id, identity="FUZZ-1"))
    finally:
        await engine.dispose()
    return tenancy.admin


def api_document() -> dict[str, Any]:
    """The document the app serves at /api/docs/openapi.json, built without starting the app (no database)."""
    document: dict[str, Any] = create_app(Settings(data_dir=Path("unused"))).openapi_schema.to_schema()
    return document


schema = schemathesis.openapi.from_dict(api_document()).include(path_regex=r"^/api/v1/")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_api_operation_answers_without_5xx_and_as_documented(
    case: Any, fuzz_app: Litestar, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(app=fuzz_app, headers=admin_headers, checks=CHECKS)


async def test_the_tested_document_is_the_one_the_app_serves(client: Any) -> None:
    served = await client.get("/api/docs/openapi.json")
    assert served.status_code == 200 and served.json() == api_document()
    paths = {operation.ok().path for operation in schema.get_all_operations()}
    assert {"/api/v1/sites", "/api/v1/people", "/api/v1/badges", "/api/v1/billing/cost-allocation"} <= {
        p.rstrip("/") for p in paths
    }
