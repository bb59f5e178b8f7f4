"""UI pages that update themselves: stations online and their status, sessions with energy and power."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from litestar import Controller, get
from litestar.di import Provide
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.charging import queries
from cpo.charging.models import ChargingSession
from cpo.sites import service as sites
from cpo.tariffs import service as tariffs
from cpo.web.ui.session import UiUser, provide_ui_db, ui_user_needing


async def station_rows(db: AsyncSession, user: UiUser) -> dict[str, Any]:
    tenant_id = user.principal.tenant_id
    async with db.begin():
        stations = await sites.list_stations(db, tenant_id)
        site_names = {s.id: s.name for s in await sites.list_sites(db, tenant_id)}
        presence = await queries.presence_by_station(db, tenant_id)
        states = await queries.states_by_station(db, tenant_id)
    return {"stations": stations, "site_names": site_names, "presence": presence, "states": states}


async def station_live(db: AsyncSession, user: UiUser, station_id: uuid.UUID) -> dict[str, Any]:
    async with db.begin():
        where, states = await queries.station_status(db, user.principal.tenant_id, station_id)
    return {"presence": where, "states": states}


COSTED = 50
"""Running sessions shown with their cost so far (the newest); the rest show energy only."""
_COSTS: dict[tuple[uuid.UUID, Decimal], tuple[str, Decimal] | None] = {}


async def _cost_so_far(db: AsyncSession, charging: ChargingSession) -> tuple[str, Decimal] | None:
    """What a running session costs so far incl. VAT; recomputed only when its energy moved."""
    key = (charging.id, charging.energy_wh)
    if key not in _COSTS:
        if len(_COSTS) > 5_000:
            _COSTS.clear()
        _, _, pricing, _ = await tariffs.price(db, charging)
        _COSTS[key] = (pricing.currency, pricing.total.incl_vat or pricing.total.excl_vat) if pricing else None
    return _COSTS[key]


async def session_rows(db: AsyncSession, user: UiUser, recent: bool) -> dict[str, Any]:
    tenant_id = user.principal.tenant_id
    async with db.begin():
        active = await queries.list_sessions(db, tenant_id, "active", limit=500)
        done = await queries.list_sessions(db, tenant_id, "completed", limit=50) if recent else []
        names = {s.id: s.identity for s in await sites.list_stations(db, tenant_id)}
        costs = {s.id: await _cost_so_far(db, s) for s in active[:COSTED]}
        billed = await tariffs.cdr_totals(db, [s.id for s in done])
    return {"active": active, "recent": done, "station_names": names, "costs": costs, "billed": billed}


class LivePages(Controller):
    path = "/"
    dependencies = {"user": ui_user_needing("sites.read"), "db": Provide(provide_ui_db)}

    @get("/live/stations")
    async def live_stations(self, db: AsyncSession, user: UiUser) -> Template:
        return Template("stations/_rows.html", context=user.context(**await station_rows(db, user)))

    @get("/live/stations/{station_id:uuid}")
    async def live_station(self, db: AsyncSession, user: UiUser, station_id: uuid.UUID) -> Template:
        return Template("stations/_live.html", context=user.context(**await station_live(db, user, station_id)))

    @get("/sessions")
    async def sessions_page(self, db: AsyncSession, user: UiUser) -> Template:
        return Template("sessions/list.html", context=user.context(**await session_rows(db, user, recent=True)))

    @get("/live/sessions")
    async def live_sessions(self, db: AsyncSession, user: UiUser) -> Template:
        return Template("sessions/_active.html", context=user.context(**await session_rows(db, user, recent=False)))
