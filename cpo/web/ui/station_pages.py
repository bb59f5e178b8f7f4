"""UI pages: stations with their EVSEs and connectors."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.errors import Conflict
from cpo.sites import service as sites
from cpo.sites.models import Station
from cpo.sites.schemas import ConnectorIn, EvseIn, StationIn, StationUpdate, station_ocpp_url
from cpo.sites.vocabulary import (
    CAPABILITIES,
    CONNECTOR_FORMATS,
    CONNECTOR_STANDARDS,
    POWER_TYPES,
    REGISTRATION_STATUSES,
)
from cpo.web.deps import runtime_of
from cpo.web.ui.forms import FormErrors, form_values, parse_form
from cpo.web.ui.live_pages import station_live, station_rows
from cpo.web.ui.session import UiUser, provide_ui_db, ui_user_needing

VOCABULARY = {
    "capabilities": CAPABILITIES,
    "standards": CONNECTOR_STANDARDS,
    "formats": CONNECTOR_FORMATS,
    "power_types": POWER_TYPES,
    "statuses": REGISTRATION_STATUSES,
}


def ocpp_url(state: State, station: Station) -> str:
    return station_ocpp_url(runtime_of(state).settings.ocpp_url, station.identity)


class StationPages(Controller):
    path = "/"
    dependencies = {"user": ui_user_needing("sites.read"), "db": Provide(provide_ui_db)}

    @get("/stations")
    async def list_stations(self, db: AsyncSession, user: UiUser) -> Template:
        return Template("stations/list.html", context=user.context(**await station_rows(db, user)))

    async def _form(
        self,
        db: AsyncSession,
        user: UiUser,
        values: dict[str, Any],
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        async with db.begin():
            site_rows = await sites.list_sites(db, user.principal.tenant_id)
        context = user.context(sites=site_rows, values=values, errors=errors, station=None, **VOCABULARY)
        return Template("stations/form.html", context=context, status_code=status)

    @get("/stations/new")
    async def new_station(self, db: AsyncSession, user: UiUser, site_id: uuid.UUID | None = None) -> Template:
        user.require("sites.write", db)
        return await self._form(db, user, {"site_id": str(site_id) if site_id else ""}, {})

    @post("/stations/new")
    async def create_station(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, state: State
    ) -> Template:
        user.require("sites.write", db)
        values = form_values(await request.form())
        try:
            data = parse_form(values, StationIn)
            async with db.begin():
                station, password = await sites.create_station(db, user.principal.tenant_id, data)
        except FormErrors as invalid:
            return await self._form(db, user, values, invalid.errors, 400)
        except Conflict as conflict:
            return await self._form(db, user, values, {conflict.field or "form": str(conflict)}, 409)
        # The password is on this page only: it is stored hashed and cannot be shown again.
        context = user.context(station=station, password=password, ocpp_url=ocpp_url(state, station))
        return Template("stations/created.html", context=context, status_code=201)

    @get("/stations/{station_id:uuid}")
    async def station_detail(self, db: AsyncSession, user: UiUser, state: State, station_id: uuid.UUID) -> Template:
        tenant_id = user.principal.tenant_id
        async with db.begin():
            station = await sites.get_station(db, tenant_id, station_id)
            site_rows = await sites.list_sites(db, tenant_id)
            evses = await sites.list_evses(db, tenant_id, station_id)
            connectors = await sites.connectors_of_station(db, tenant_id, station_id)
        values = {
            "site_id": str(station.site_id), "vendor": station.vendor or "", "model": station.model or "",
            "serial_number": station.serial_number or "", "firmware_version": station.firmware_version or "",
            "security_profile": str(station.security_profile), "registration_status": station.registration_status,
        }  # fmt: skip
        context = user.context(
            station=station, sites=site_rows, evses=evses, connectors=connectors, values=values, errors={},
            ocpp_url=ocpp_url(state, station), **VOCABULARY, **await station_live(db, user, station_id),
        )  # fmt: skip
        return Template("stations/detail.html", context=context)

    @post("/stations/{station_id:uuid}")
    async def update_station(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, station_id: uuid.UUID
    ) -> Redirect:
        user.require("sites.write", db)
        data = parse_form(form_values(await request.form()), StationUpdate)
        async with db.begin():
            await sites.update_station(db, user.principal.tenant_id, station_id, data)
        return Redirect(f"/ui/stations/{station_id}")

    @post("/stations/{station_id:uuid}/password")
    async def rotate_password(self, db: AsyncSession, user: UiUser, state: State, station_id: uuid.UUID) -> Template:
        user.require("sites.write", db)
        async with db.begin():
            password = await sites.rotate_station_password(db, user.principal.tenant_id, station_id)
            station = await sites.get_station(db, user.principal.tenant_id, station_id)
        context = user.context(station=station, password=password, ocpp_url=ocpp_url(state, station))
        return Template("stations/created.html", context=context)

    @post("/stations/{station_id:uuid}/delete")
    async def delete_station(self, db: AsyncSession, user: UiUser, station_id: uuid.UUID) -> Redirect:
        user.require("sites.write", db)
        async with db.begin():
            await sites.delete_station(db, user.principal.tenant_id, station_id)
        return Redirect("/ui/stations")

    @post("/stations/{station_id:uuid}/evses")
    async def add_evse(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, station_id: uuid.UUID
    ) -> Redirect:
        user.require("sites.write", db)
        data = parse_form(form_values(await request.form(), lists=("capabilities",)), EvseIn, ("public",))
        async with db.begin():
            await sites.create_evse(db, user.principal.tenant_id, station_id, data)
        return Redirect(f"/ui/stations/{station_id}")

    @get("/evses/{evse_id:uuid}")
    async def edit_evse(self, db: AsyncSession, user: UiUser, evse_id: uuid.UUID) -> Template:
        async with db.begin():
            evse = await sites.get_evse(db, user.principal.tenant_id, evse_id)
            connectors = await sites.list_connectors(db, user.principal.tenant_id, evse_id)
        return Template("stations/evse.html", context=user.context(evse=evse, connectors=connectors, **VOCABULARY))

    @post("/evses/{evse_id:uuid}")
    async def update_evse(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, evse_id: uuid.UUID
    ) -> Redirect:
        user.require("sites.write", db)
        data = parse_form(form_values(await request.form(), lists=("capabilities",)), EvseIn, ("public",))
        async with db.begin():
            evse = await sites.update_evse(db, user.principal.tenant_id, evse_id, data)
        return Redirect(f"/ui/stations/{evse.station_id}")

    @post("/evses/{evse_id:uuid}/delete")
    async def delete_evse(self, db: AsyncSession, user: UiUser, evse_id: uuid.UUID) -> Redirect:
        user.require("sites.write", db)
        async with db.begin():
            evse = await sites.get_evse(db, user.principal.tenant_id, evse_id)
            await sites.delete_evse(db, user.principal.tenant_id, evse_id)
        return Redirect(f"/ui/stations/{evse.station_id}")

    @post("/evses/{evse_id:uuid}/connectors")
    async def add_connector(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, evse_id: uuid.UUID
    ) -> Redirect:
        user.require("sites.write", db)
        data = parse_form(form_values(await request.form()), ConnectorIn)
        async with db.begin():
            await sites.create_connector(db, user.principal.tenant_id, evse_id, data)
        return Redirect(f"/ui/evses/{evse_id}")

    @get("/connectors/{connector_id:uuid}")
    async def edit_connector(self, db: AsyncSession, user: UiUser, connector_id: uuid.UUID) -> Template:
        async with db.begin():
            connector = await sites.get_connector(db, user.principal.tenant_id, connector_id)
        return Template("stations/connector.html", context=user.context(connector=connector, **VOCABULARY))

    @post("/connectors/{connector_id:uuid}")
    async def update_connector(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, connector_id: uuid.UUID
    ) -> Redirect:
        user.require("sites.write", db)
        data = parse_form(form_values(await request.form()), ConnectorIn)
        async with db.begin():
            connector = await sites.update_connector(db, user.principal.tenant_id, connector_id, data)
        return Redirect(f"/ui/evses/{connector.evse_id}")

    @post("/connectors/{connector_id:uuid}/delete")
    async def delete_connector(self, db: AsyncSession, user: UiUser, connector_id: uuid.UUID) -> Redirect:
        user.require("sites.write", db)
        async with db.begin():
            connector = await sites.get_connector(db, user.principal.tenant_id, connector_id)
            await sites.delete_connector(db, user.principal.tenant_id, connector_id)
        return Redirect(f"/ui/evses/{connector.evse_id}")
