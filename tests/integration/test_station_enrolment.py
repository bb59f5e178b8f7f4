"""Stations get in only with what proves them: their password, or their tenant's enrolment secret to register."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import websockets
from ocpp.v16 import call
from sqlalchemy import update

from cpo.db.engine import make_engine, make_sessionmaker
from cpo.sites.models import Station
from tests.integration.ocpp_support import Server, connect, start_server


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("enrolment"), module_db_url)
    yield running
    assert running.platform.stop() == 0


async def refused_status(server: Server, station: dict[str, str], password: str | None = None) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(server, station, password=password) as cp:
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
    return refused.value.response.status_code


async def test_a_station_without_a_stored_password_is_refused_not_let_in(server: Server, module_db_url: str) -> None:
    station = await server.new_station("NOPASS")
    engine = make_engine(module_db_url, pool_size=1)
    async with make_sessionmaker(engine)() as s, s.begin():
        await s.execute(update(Station).where(Station.identity == station["identity"]).values(password_hash=None))
    await engine.dispose()
    assert await refused_status(server, station, password="any-password-at-all") == 401
    assert await refused_status(server, station) == 401
