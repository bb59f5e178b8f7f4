"""A site manager's view: every ORM query of their database session sees only their sites.

Set once per request (``limit_to_sites``); from then on sites, stations, EVSEs, connectors and charging
sessions elsewhere do not exist for that session, whichever service function asks. Outside the scope an
object is simply not found (404), as an object of another tenant is.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from cpo.charging.models import ChargingSession
from cpo.sites.models import Connector, Evse, Site, Station

SITES_KEY = "cpo.site_ids"


def limit_to_sites(session: AsyncSession, site_ids: Iterable[uuid.UUID] | None) -> None:
    if site_ids is not None:
        session.sync_session.info[SITES_KEY] = tuple(sorted(site_ids))


@event.listens_for(Session, "do_orm_execute")
def _only_these_sites(state: ORMExecuteState) -> None:
    site_ids = state.session.info.get(SITES_KEY)
    if site_ids is None or not state.is_select:
        return
    stations = select(Station.id).where(Station.site_id.in_(site_ids))
    evses = select(Evse.id).where(Evse.station_id.in_(stations))
    state.statement = state.statement.options(
        with_loader_criteria(Site, Site.id.in_(site_ids), include_aliases=True),
        with_loader_criteria(Station, Station.site_id.in_(site_ids), include_aliases=True),
        with_loader_criteria(Evse, Evse.station_id.in_(stations), include_aliases=True),
        with_loader_criteria(Connector, Connector.evse_id.in_(evses), include_aliases=True),
        with_loader_criteria(ChargingSession, ChargingSession.station_id.in_(stations), include_aliases=True),
    )
