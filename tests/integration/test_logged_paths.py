"""Logs name the route, never the path a request came by: a driver's pay link is a secret."""

from __future__ import annotations

import base64
import logging
import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.logs import JsonFormatter
from cpo.roaming.models import RoamingPartner, RoamingParty
from cpo.secrets import hash_token, new_secret
from cpo.tenants.service import ensure_tenant

Client = AsyncTestClient[Litestar]
SECRET_LINK = "s3cret-view-token-of-a-driver"


@pytest.mark.parametrize("tail", ["", "/status", "/receipt", "/receipt.pdf"])
async def test_a_server_error_on_a_pay_link_logs_the_route_template_not_the_token(
    client: Client, sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture, tail: str
) -> None:
    # The payments table gone: every pay-link route fails inside, as a real fault would.
    async with sessions() as session, session.begin():
        await session.execute(text("ALTER TABLE adhoc_payments RENAME TO adhoc_payments_away"))
    caplog.set_level(logging.INFO)
    answer = await client.get(f"/pay/p/{SECRET_LINK}{tail}")
    assert answer.status_code == 500
    assert SECRET_LINK not in answer.text
    # The test client's own request line (httpx, the driver's side) is not the server's log.
    records = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert any(r.levelno == logging.ERROR and r.exc_info for r in records), "the fault itself is logged"
    routes = {getattr(r, "route", None) for r in records} | {getattr(r, "path", None) for r in records}
    assert f"/pay/p/{{token}}{tail}" in routes, routes
    written = "\n".join(JsonFormatter().format(r) for r in records)
    assert SECRET_LINK not in written


async def test_metrics_label_a_pay_link_by_its_route_template(client: Client) -> None:
    assert (await client.get(f"/pay/p/{SECRET_LINK}/status")).status_code == 404
    metrics = (await client.get("/metrics")).text
    assert 'path="/pay/p/{token}/status"' in metrics and SECRET_LINK not in metrics


async def test_a_server_error_on_an_ocpi_token_path_logs_the_route_not_the_driver_s_token_uid(
    client: Client, sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    credentials, uid = new_secret(), "04DRIVER5C4RD"
    async with sessions() as session, session.begin():
        tenant = await ensure_tenant(session, "default")
        partner = RoamingPartner(id=uuid.uuid4(), tenant_id=tenant.id, name="eMSP", status="registered",
                                 country_code="NL", party_id="TNM", roles=[], endpoints={},
                                 our_token_hash=hash_token(credentials), our_token_sealed="unused")  # fmt: skip
        session.add(partner)
        await session.flush()
        session.add(RoamingParty(tenant_id=tenant.id, country_code="NL", party_id="TNM", partner_id=partner.id))
        await session.execute(text("ALTER TABLE roaming_tokens RENAME TO roaming_tokens_away"))
    caplog.set_level(logging.INFO)
    token = base64.b64encode(credentials.encode()).decode()
    answer = await client.get(f"/ocpi/2.2.1/tokens/NL/TNM/{uid}", headers={"Authorization": f"Token {token}"})
    assert answer.status_code == 500
    records = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert any(r.levelno == logging.ERROR and r.exc_info for r in records), "the fault itself is logged"
    assert "/ocpi/2.2.1/tokens/{country_code}/{party_id}/{token_uid}" in {getattr(r, "route", None) for r in records}
    written = "\n".join(JsonFormatter().format(r) for r in records)
    assert uid not in written
