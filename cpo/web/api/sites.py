"""Sites, stations, EVSEs and connectors over the admin API. Convert, call one service, convert back."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, post, put
from litestar.datastructures import State
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.roles import Principal
from cpo.sites import service
from cpo.sites.permissions import require_home_unchanged_unless_allowed, require_site_creation
from cpo.sites.schemas import (
    ConnectorIn,
    ConnectorOut,
    EvseIn,
    EvseOut,
    NewPassword,
    SiteIn,
    SiteOut,
    StationCreated,
    StationIn,
    StationOut,
    StationUpdate,
    connector_out,
    evse_out,
    site_out,
    station_created,
    station_out,
)
from cpo.web.deps import guarded, runtime_of


def _ocpp_base(state: State) -> str:
    return runtime_of(state).settings.ocpp_url


class SiteController(Controller):
    path = "/sites"
    tags = ["sites"]
    dependencies = {"principal": guarded("sites")}

    @get("/")
    async def list_sites(self, db: AsyncSession, principal: Principal) -> list[SiteOut]:
        async with db.begin():
            return [site_out(s) for s in await service.list_sites(db, principal.tenant_id)]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_site(self, db: AsyncSession, principal: Principal, data: SiteIn) -> SiteOut:
        require_site_creation(principal)
        require_home_unchanged_unless_allowed(principal, None, data.home_person_id)
        async with db.begin():
            return site_out(await service.create_site(db, principal.tenant_id, data))

    @get("/{site_id:uuid}")
    async def get_site(self, db: AsyncSession, principal: Principal, site_id: uuid.UUID) -> SiteOut:
        async with db.begin():
            return site_out(await service.get_site(db, principal.tenant_id, site_id))

    @put("/{site_id:uuid}")
    async def update_site(self, db: AsyncSession, principal: Principal, site_id: uuid.UUID, data: SiteIn) -> SiteOut:
        async with db.begin():
            site = await service.get_site(db, principal.tenant_id, site_id)
            require_home_unchanged_unless_allowed(principal, site.home_person_id, data.home_person_id)
            return site_out(await service.update_site(db, principal.tenant_id, site_id, data))

    @delete("/{site_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_site(self, db: AsyncSession, principal: Principal, site_id: uuid.UUID) -> None:
        async with db.begin():
            await service.delete_site(db, principal.tenant_id, site_id)


class StationController(Controller):
    path = "/stations"
    tags = ["stations"]
    dependencies = {"principal": guarded("sites")}

    @get("/")
    async def list_stations(
        self, db: AsyncSession, principal: Principal, state: State, site_id: uuid.UUID | None = None
    ) -> list[StationOut]:
        async with db.begin():
            stations = await service.list_stations(db, principal.tenant_id, site_id)
        return [station_out(s, _ocpp_base(state)) for s in stations]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_station(
        self, db: AsyncSession, principal: Principal, state: State, data: StationIn
    ) -> StationCreated:
        """Create a station. The answer holds its OCPP password: the only time it is shown."""
        async with db.begin():
            station, password = await service.create_station(db, principal.tenant_id, data)
        return station_created(station, _ocpp_base(state), password)

    @get("/{station_id:uuid}")
    async def get_station(
        self, db: AsyncSession, principal: Principal, state: State, station_id: uuid.UUID
    ) -> StationOut:
        async with db.begin():
            station = await service.get_station(db, principal.tenant_id, station_id)
        return station_out(station, _ocpp_base(state))

    @put("/{station_id:uuid}")
    async def update_station(
        self, db: AsyncSession, principal: Principal, state: State, station_id: uuid.UUID, data: StationUpdate
    ) -> StationOut:
        async with db.begin():
            station = await service.update_station(db, principal.tenant_id, station_id, data)
        return station_out(station, _ocpp_base(state))

    @post("/{station_id:uuid}/password", status_code=HTTP_201_CREATED)
    async def rotate_password(self, db: AsyncSession, principal: Principal, station_id: uuid.UUID) -> NewPassword:
        """Give the station a new OCPP password (shown once); the old one stops working."""
        async with db.begin():
            return NewPassword(await service.rotate_station_password(db, principal.tenant_id, station_id))

    @delete("/{station_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_station(self, db: AsyncSession, principal: Principal, station_id: uuid.UUID) -> None:
        async with db.begin():
            await service.delete_station(db, principal.tenant_id, station_id)

    @get("/{station_id:uuid}/evses")
    async def list_evses(self, db: AsyncSession, principal: Principal, station_id: uuid.UUID) -> list[EvseOut]:
        async with db.begin():
            return [evse_out(e) for e in await service.list_evses(db, principal.tenant_id, station_id)]

    @post("/{station_id:uuid}/evses", status_code=HTTP_201_CREATED)
    async def create_evse(self, db: AsyncSession, principal: Principal, station_id: uuid.UUID, data: EvseIn) -> EvseOut:
        async with db.begin():
            return evse_out(await service.create_evse(db, principal.tenant_id, station_id, data))


class EvseController(Controller):
    path = "/evses"
    tags = ["stations"]
    dependencies = {"principal": guarded("sites")}

    @get("/{evse_id:uuid}")
    async def get_evse(self, db: AsyncSession, principal: Principal, evse_id: uuid.UUID) -> EvseOut:
        async with db.begin():
            return evse_out(await service.get_evse(db, principal.tenant_id, evse_id))

    @put("/{evse_id:uuid}")
    async def update_evse(self, db: AsyncSession, principal: Principal, evse_id: uuid.UUID, data: EvseIn) -> EvseOut:
        async with db.begin():
            return evse_out(await service.update_evse(db, principal.tenant_id, evse_id, data))

    @delete("/{evse_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_evse(self, db: AsyncSession, principal: Principal, evse_id: uuid.UUID) -> None:
        async with db.begin():
            await service.delete_evse(db, principal.tenant_id, evse_id)

    @get("/{evse_id:uuid}/connectors")
    async def list_connectors(self, db: AsyncSession, principal: Principal, evse_id: uuid.UUID) -> list[ConnectorOut]:
        async with db.begin():
            return [connector_out(c) for c in await service.list_connectors(db, principal.tenant_id, evse_id)]

    @post("/{evse_id:uuid}/connectors", status_code=HTTP_201_CREATED)
    async def create_connector(
        self, db: AsyncSession, principal: Principal, evse_id: uuid.UUID, data: ConnectorIn
    ) -> ConnectorOut:
        async with db.begin():
            return connector_out(await service.create_connector(db, principal.tenant_id, evse_id, data))


class ConnectorController(Controller):
    path = "/connectors"
    tags = ["stations"]
    dependencies = {"principal": guarded("sites")}

    @get("/{connector_id:uuid}")
    async def get_connector(self, db: AsyncSession, principal: Principal, connector_id: uuid.UUID) -> ConnectorOut:
        async with db.begin():
            return connector_out(await service.get_connector(db, principal.tenant_id, connector_id))

    @put("/{connector_id:uuid}")
    async def update_connector(
        self, db: AsyncSession, principal: Principal, connector_id: uuid.UUID, data: ConnectorIn
    ) -> ConnectorOut:
        async with db.begin():
            return connector_out(await service.update_connector(db, principal.tenant_id, connector_id, data))

    @delete("/{connector_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_connector(self, db: AsyncSession, principal: Principal, connector_id: uuid.UUID) -> None:
        async with db.begin():
            await service.delete_connector(db, principal.tenant_id, connector_id)
