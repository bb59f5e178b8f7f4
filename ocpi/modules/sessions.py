"""Sessions and CDRs, sender interfaces: a partner sees its own drivers' sessions and CDRs, oldest first."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import Provide
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.charging.models import ChargingSession
from cpo.tariffs import render
from cpo.tariffs import service as tariffs
from cpo.tariffs.models import Cdr
from cpo.tenants.models import Tenant
from ocpi.auth import Caller, provide_registered_caller
from ocpi.envelope import answer
from ocpi.pagination import page_of

STATUS = {"active": "ACTIVE", "completed": "COMPLETED", "refused": "INVALID"}


async def render_session(db: AsyncSession, charging: ChargingSession) -> dict[str, Any]:
    """A session as OCPI 2.2.1 shows it while it runs (and once it ended): energy, cost so far, status."""
    tenant = await db.get(Tenant, charging.tenant_id)
    place = await tariffs.place_of(db, charging)
    country, party = tariffs.party_of(tenant)
    tariff, _, pricing, _ = await tariffs.price(db, charging)
    body: dict[str, Any] = {
        "country_code": country, "party_id": party, "id": str(charging.id),
        "start_date_time": charging.started_at, "kwh": charging.energy_wh / 1000,
        "cdr_token": tariffs.cdr_token(charging, tenant, None) | (
            {"country_code": charging.partner[:2], "party_id": charging.partner[2:]} if charging.partner else {}),
        "auth_method": "WHITELIST", "location_id": str(place.site.id) if place else "#NA",
        "evse_uid": place.evse.uid if place and place.evse else "#NA",
        "connector_id": str(charging.ocpp_connector_id or 1),
        "currency": tariff.currency if tariff else (place.site.currency if place else "EUR"),
        "status": STATUS.get(charging.status, "ACTIVE"), "last_updated": charging.updated_at,
    }  # fmt: skip
    if charging.stopped_at is not None:
        body["end_date_time"] = charging.stopped_at
    if pricing is not None:
        body["total_cost"] = {"excl_vat": pricing.rounded(pricing.total.excl_vat),
                              "incl_vat": pricing.rounded(pricing.total.incl_vat or pricing.total.excl_vat)}  # fmt: skip
    return body


def _sessions_of(caller: Caller) -> Any:
    """The caller's sessions, by partner id: a party code can have belonged to a partner that left."""
    return select(ChargingSession.id).where(ChargingSession.tenant_id == caller.partner.tenant_id,
                                            ChargingSession.partner_id == caller.partner.id)  # fmt: skip


@get("/2.2.1/sessions", dependencies={"caller": Provide(provide_registered_caller)})
async def list_sessions(request: Request[Any, Any, Any], db: AsyncSession, caller: Caller) -> Response[bytes]:
    page = page_of(request)
    query = select(ChargingSession).where(ChargingSession.tenant_id == caller.partner.tenant_id,
                                          ChargingSession.partner_id == caller.partner.id)  # fmt: skip
    if page.date_from is not None:
        query = query.where(ChargingSession.updated_at >= page.date_from)
    if page.date_to is not None:
        query = query.where(ChargingSession.updated_at < page.date_to)
    async with db.begin():
        total = int(await db.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = (await db.execute(query.order_by(ChargingSession.updated_at, ChargingSession.id)
                                 .offset(page.offset).limit(page.limit))).scalars().all()  # fmt: skip
        found = [await render_session(db, row) for row in rows]
    return answer_page(request, found, page, total)


@get("/2.2.1/cdrs", dependencies={"caller": Provide(provide_registered_caller)})
async def list_cdrs(request: Request[Any, Any, Any], db: AsyncSession, caller: Caller) -> Response[bytes]:
    page = page_of(request)
    query = select(Cdr).where(Cdr.tenant_id == caller.partner.tenant_id, Cdr.partner.is_not(None),
                              Cdr.session_id.in_(_sessions_of(caller)))  # fmt: skip
    if page.date_from is not None:
        query = query.where(Cdr.created_at >= page.date_from)
    if page.date_to is not None:
        query = query.where(Cdr.created_at < page.date_to)
    async with db.begin():
        total = int(await db.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = (await db.execute(query.order_by(Cdr.created_at, Cdr.number).offset(page.offset)
                                 .limit(page.limit))).scalars().all()  # fmt: skip
    return answer_page(request, [render.cdr(row) for row in rows], page, total)


def answer_page(request: Request[Any, Any, Any], found: list[Any], page: Any, total: int) -> Response[bytes]:
    return answer(request, found, headers=page.headers(request, total))


HANDLERS = [list_sessions, list_cdrs]
