"""Access rules through real OCPP: the ``ocpp`` package's stations against a real ``cpo serve`` on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from ocpp.v16 import call
from ocpp.v201 import call as call201

from tests.integration.ocpp_support import Server, connect, start_server


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("access"), module_db_url, CPO_OUTBOX_POLL_SECONDS="1")
    yield running
    assert running.platform.stop() == 0


async def holder_with_badge(server: Server, uid: str, **person: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    async with server.api() as api:
        body = {"name": "Employee", "email": f"{uid.lower()}@example.com", **person}
        made = await api.post("/api/v1/people", json=body)
        assert made.status_code == 201, made.text
        badge = await api.post("/api/v1/badges", json={"uid": uid, "person_id": made.json()["id"]})
        assert badge.status_code == 201, badge.text
        return made.json(), badge.json()


async def eventually(check: Callable[[], Awaitable[bool] | bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while True:
        outcome = check()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.1)


async def test_office_hours_allow_a_start_at_ten_and_refuse_one_at_ten_at_night(server: Server) -> None:
    person, _ = await holder_with_badge(server, "0A0B0C0D")
    async with server.api() as api:
        rule = {"name": "Office hours", "person_id": person["id"], "windows": ["mon-fri 07:00-19:00"]}
        assert (await api.post("/api/v1/access-rules", json=rule)).status_code == 201
    station = await server.new_station()
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        # Monday 23 November 2026 in Brussels (UTC+1): 10:00 and 22:00 local time.
        morning = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="0a:0b:0c:0d", meter_start=0, timestamp="2026-11-23T09:00:00Z")
        )
        await cp.call(call.StopTransaction(meter_stop=1000, timestamp="2026-11-23T10:00:00Z",
                                           transaction_id=morning.transaction_id))  # fmt: skip
        night = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="0A0B0C0D", meter_start=0, timestamp="2026-11-23T21:00:00Z")
        )
    assert morning.id_tag_info["status"] == "Accepted"
    assert night.id_tag_info["status"] == "Invalid"
    async with server.api() as api:
        refused = (await api.get("/api/v1/sessions", params={"status": "refused"})).json()
        completed = (await api.get("/api/v1/sessions", params={"status": "completed"})).json()
    assert str(night.transaction_id) in {s["transaction_id"] for s in refused}, "a refused start is never active"
    assert str(morning.transaction_id) in {s["transaction_id"] for s in completed}


async def test_a_201_station_hears_not_at_this_time_and_not_at_this_location(server: Server) -> None:
    person, _ = await holder_with_badge(server, "1A2B3C4D5E6F70")
    async with server.api() as api:
        elsewhere = (await api.post("/api/v1/sites", json={**SITE_ELSEWHERE})).json()
        for rule in (
            {"name": "Evenings", "person_id": person["id"], "windows": ["mon-sun 18:00-06:00"]},
            {"name": "Other site", "person_id": person["id"], "site_ids": [elsewhere["id"]]},
        ):
            assert (await api.post("/api/v1/access-rules", json=rule)).status_code == 201
    station = await server.new_station()
    token = {"id_token": "706F5E4D3C2B1A", "type": "ISO14443"}  # the same card in the other byte order
    async with connect(server, station, version="2.0.1") as cp:
        await cp.call(call201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
        noon = await cp.call(
            call201.TransactionEvent(
                event_type="Started", timestamp="2026-11-23T11:00:00Z", trigger_reason="Authorized", seq_no=0,
                transaction_info={"transaction_id": "T-noon"}, id_token=token, evse={"id": 1, "connector_id": 1},
            )
        )  # fmt: skip
        evening = await cp.call(
            call201.TransactionEvent(
                event_type="Started", timestamp="2026-11-23T19:00:00Z", trigger_reason="Authorized", seq_no=0,
                transaction_info={"transaction_id": "T-evening"}, id_token=token, evse={"id": 1, "connector_id": 1},
            )
        )  # fmt: skip
    assert noon.id_token_info["status"] == "NotAtThisTime"
    assert evening.id_token_info["status"] == "Accepted"
    async with server.api() as api:
        rules = (await api.get("/api/v1/access-rules", params={"person_id": person["id"]})).json()
        await api.delete(f"/api/v1/access-rules/{next(r['id'] for r in rules if r['name'] == 'Evenings')}")
    async with connect(server, station, version="2.0.1") as cp:
        answer = await cp.call(call201.Authorize(id_token=token))
    assert answer.id_token_info["status"] == "NotAtThisLocation"


SITE_ELSEWHERE = {
    "name": "Elsewhere", "address": "Elders 1", "city": "Brugge", "postal_code": "8000", "country": "BEL",
    "latitude": 51.2, "longitude": 3.2, "time_zone": "Europe/Brussels",
}  # fmt: skip


async def test_a_blocked_badge_is_refused_at_once_and_its_session_stopped(server: Server) -> None:
    _, badge = await holder_with_badge(server, "B10CB10C")
    station = await server.new_station()
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        assert (await cp.call(call.Authorize(id_tag="B10CB10C"))).id_tag_info["status"] == "Accepted"
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="B10CB10C", meter_start=0, timestamp="2026-11-23T09:00:00Z")
        )
        async with server.api() as api:
            blocked = await api.post(f"/api/v1/badges/{badge['id']}/block", json={"stop_sessions": True})
            assert blocked.status_code == 200 and blocked.json()["status"] == "blocked", blocked.text
        at = time.monotonic()
        answer = await cp.call(call.Authorize(id_tag="B10CB10C"))
        assert answer.id_tag_info["status"] == "Blocked" and time.monotonic() - at < 1.0
        assert ("RemoteStopTransaction", {"transaction_id": started.transaction_id}) in cp.received


async def test_a_station_that_went_offline_refuses_a_badge_blocked_before(server: Server) -> None:
    person, badge = await holder_with_badge(server, "04C0FFEE")
    station = await server.new_station()
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        # after the boot the platform asks for the list version and sends the whole list
        await eventually(lambda: cp.local_authorize("04C0FFEE") == "Accepted", 30)
        full_version = cp.list_version
        async with server.api() as api:
            await api.post(f"/api/v1/people/{person['id']}/block")
        # blocking the person reaches the station as a differential update
        await eventually(lambda: cp.local_authorize("04C0FFEE") == "Blocked")
        assert cp.list_version > full_version
    # The socket is gone: on its own the station refuses the badge
    assert cp.local_authorize("04C0FFEE") == "Blocked"

    async with server.api() as api:
        await api.post(f"/api/v1/people/{person['id']}/activate")
        await api.delete(f"/api/v1/badges/{badge['id']}")
        assert (await api.post("/api/v1/badges", json={"uid": "04BEEF00"})).status_code == 201
    async with connect(server, station) as again:
        # the station kept its list and its version: it gets what changed while it was away
        again.local_list, again.list_version = dict(cp.local_list), cp.list_version
        await again.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await eventually(lambda: again.local_authorize("04BEEF00") == "Accepted", 30)
        await eventually(lambda: again.local_authorize("04C0FFEE") == "Unknown")  # removed with its badge
    async with connect(server, station) as wiped:
        # a station that lost its list (version 0) gets the whole list again
        await wiped.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await eventually(lambda: wiped.local_authorize("04BEEF00") == "Accepted", 30)


async def test_each_site_s_stations_hold_that_site_s_list(server: Server) -> None:
    """A rule for one site: its stations accept the badge offline, another site's refuse it (each site's list
    made once for all its stations)."""
    import contextlib

    person, _ = await holder_with_badge(server, "05AB0001")
    stations: dict[str, list[dict[str, Any]]] = {}
    async with server.api() as api:
        for name in ("Depot", "Yard"):
            site = (await api.post("/api/v1/sites", json={**SITE_ELSEWHERE, "name": name})).json()
            stations[name] = []
            for n in range(2):
                made = await api.post("/api/v1/stations", json={"site_id": site["id"], "identity": f"{name}-{n}",
                                                                  "password": "station-password-05"})  # fmt: skip
                assert made.status_code == 201, made.text
                stations[name].append(made.json() | {"password": "station-password-05", "site": site["id"]})
    async with contextlib.AsyncExitStack() as stack:
        connected = {name: [await stack.enter_async_context(connect(server, s)) for s in group]
                     for name, group in stations.items()}  # fmt: skip
        for cp in (cp for group in connected.values() for cp in group):
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        everyone = [cp for group in connected.values() for cp in group]
        await eventually(lambda: all(cp.local_authorize("05AB0001") == "Accepted" for cp in everyone), 30)
        async with server.api() as api:
            rule = {"name": "Depot only", "person_id": person["id"], "site_ids": [stations["Depot"][0]["site"]]}
            assert (await api.post("/api/v1/access-rules", json=rule)).status_code == 201
        await eventually(lambda: all(cp.local_authorize("05AB0001") == "Invalid" for cp in connected["Yard"]), 30)
        assert all(cp.local_authorize("05AB0001") == "Accepted" for cp in connected["Depot"])
        # a rule for one EVSE: only its station holds the badge as accepted
        other, _ = await holder_with_badge(server, "05AB0002")
        async with server.api() as api:
            evse = await api.post(f"/api/v1/stations/{stations['Yard'][1]['id']}/evses", json={"ocpp_evse_id": 1})
            assert evse.status_code == 201, evse.text
            rule = {"name": "Bay 1 only", "person_id": other["id"], "evse_ids": [evse.json()["id"]]}
            assert (await api.post("/api/v1/access-rules", json=rule)).status_code == 201
        yard_0, yard_1 = connected["Yard"]
        await eventually(lambda: yard_1.local_authorize("05AB0002") == "Accepted", 30)
        await eventually(lambda: all(cp.local_authorize("05AB0002") == "Invalid"
                                     for cp in (yard_0, *connected["Depot"])), 30)  # fmt: skip
