"""OCPP 1.6J end to end: the ``ocpp`` package's ChargePoint against a real ``cpo serve`` on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from ocpp.v16 import call
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.charging.models import ChargingSession, ConnectorState, MeterSample, StationEvent, StatusEvent
from tests.integration.ocpp_support import Server, connect, start_server

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("ocpp16"), module_db_url)
    yield running
    assert running.platform.stop() == 0


def meter(at: str, wh: int, watts: int | None = None, **extra: Any) -> dict[str, Any]:
    values = [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic"}
    ]
    if watts is not None:
        values.append({"value": str(watts / 1000), "measurand": "Power.Active.Import", "unit": "kW"})
    values += [
        {"value": v, "measurand": m, "unit": u, **({"phase": p} if p else {})} for m, v, u, p in extra.get("more", [])
    ]
    return {"timestamp": at, "sampledValue": values}


async def session_of(db: Sessions, transaction_id: int) -> ChargingSession:
    async with db() as s:
        return (
            await s.execute(select(ChargingSession).where(ChargingSession.ocpp16_id == transaction_id))
        ).scalar_one()


async def test_a_full_session_from_boot_to_a_priced_ready_stop(server: Server, db: Sessions) -> None:
    station = await server.new_station()
    await server.add_badge("04a1b2c3d4")
    async with connect(server, station) as cp:
        boot = await cp.call(
            call.BootNotification(charge_point_vendor="Alfen", charge_point_model="Eve", firmware_version="5.1")
        )
        assert boot.status == "Accepted" and boot.interval == 300
        assert (await cp.call(call.Heartbeat())).current_time.endswith("Z")
        await cp.call(call.StatusNotification(connector_id=0, error_code="NoError", status="Available"))
        await cp.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Preparing", timestamp="2026-11-27T08:59:00Z"
            )
        )
        # the reader reports the same card in lower case: one canonical form matches
        assert (await cp.call(call.Authorize(id_tag="04A1B2C3D4"))).id_tag_info["status"] == "Accepted"
        start = await cp.call(
            call.StartTransaction(
                connector_id=1, id_tag="04a1b2c3d4", meter_start=12_000, timestamp="2026-11-27T09:00:00Z"
            )
        )
        assert start.id_tag_info["status"] == "Accepted" and start.transaction_id > 0
        tx = start.transaction_id
        more = [("Current.Import", "16.1", "A", "L1"), ("Current.Import", "15.9", "A", "L2"), ("Current.Import", "16.0", "A", "L3"),
                ("Voltage", "231.2", "V", "L1-N"), ("SoC", "54", "Percent", None)]  # fmt: skip
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[meter("2026-11-27T09:15:00Z", 14_750, 11_000, more=more)],
            )
        )
        signed = {"timestamp": "2026-11-27T09:20:00Z", "sampledValue": [{"value": "OCMF|{...}|{SD:abc}", "format": "SignedData",
                  "measurand": "Energy.Active.Import.Register", "context": "Sample.Clock"}]}  # fmt: skip
        await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[signed]))
        stop = await cp.call(call.StopTransaction(meter_stop=19_500, timestamp="2026-11-27T09:45:00Z", transaction_id=tx,
                             reason="EVDisconnected", id_tag="04a1b2c3d4", transaction_data=[meter("2026-11-27T09:45:00Z", 19_500)]))  # fmt: skip
        assert stop.id_tag_info["status"] == "Accepted"

    charging = await session_of(db, tx)
    assert charging.status == "completed" and charging.stop_reason == "EVDisconnected"
    assert charging.meter_start_wh == 12_000 and charging.meter_stop_wh == 19_500 and charging.energy_wh == 7_500
    assert charging.id_tag == "04a1b2c3d4" and charging.authorization == "Accepted" and charging.soc_percent == 54
    async with db() as s:
        samples = list((await s.execute(select(MeterSample).where(MeterSample.session_id == charging.id))).scalars())
        states = list(
            (await s.execute(select(ConnectorState).where(ConnectorState.station_id == charging.station_id))).scalars()
        )
        history = await s.scalar(
            select(func.count()).select_from(StatusEvent).where(StatusEvent.station_id == charging.station_id)
        )
    by_measurand = {(m.measurand, m.phase): m for m in samples}
    assert (
        by_measurand[("Power.Active.Import", None)].value == Decimal("11000")
        and by_measurand[("Power.Active.Import", None)].unit == "W"
    )
    assert by_measurand[("Current.Import", "L2")].value == Decimal("15.9")
    assert by_measurand[("Voltage", "L1-N")].value == Decimal("231.2")
    signed_sample = next(m for m in samples if m.signed)
    assert signed_sample.raw_value == "OCMF|{...}|{SD:abc}" and signed_sample.signed == {
        "format": "SignedData",
        "value": "OCMF|{...}|{SD:abc}",
    }
    assert {(st.ocpp_evse_id, st.ocpp_connector_id, st.status) for st in states} == {
        (0, 0, "Available"),
        (1, 1, "Preparing"),
    }
    assert history == 2


async def test_a_resent_start_gets_the_same_transaction_id(server: Server, db: Sessions) -> None:
    station = await server.new_station()
    await server.add_badge("RESENT-1")
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        first = await cp.call(
            call.StartTransaction(connector_id=2, id_tag="RESENT-1", meter_start=5, timestamp="2026-11-27T10:00:00Z")
        )
        again = await cp.call(
            call.StartTransaction(connector_id=2, id_tag="RESENT-1", meter_start=5, timestamp="2026-11-27T10:00:00Z")
        )
        other = await cp.call(
            call.StartTransaction(connector_id=2, id_tag="RESENT-1", meter_start=5, timestamp="2026-11-27T10:10:00Z")
        )
        unknown = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="UNKNOWN", meter_start=5, timestamp="2026-11-27T10:20:00Z")
        )
    assert first.transaction_id == again.transaction_id != other.transaction_id
    assert first.id_tag_info["status"] == again.id_tag_info["status"] == "Accepted"
    superseded = await session_of(db, first.transaction_id)
    assert superseded.status == "completed" and superseded.stop_reason == "SupersededByNewTransaction"
    assert unknown.id_tag_info["status"] == "Invalid", "unknown badges are not accepted, but the start is recorded"
    refused = await session_of(db, unknown.transaction_id)
    assert refused.status == "refused" and refused.auth_reason == "unknown", "a denied start is never active"


async def test_repeated_and_unknown_stops_are_acknowledged_and_recorded(server: Server, db: Sessions) -> None:
    station = await server.new_station()
    await server.add_badge("STOPPER-1")
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="STOPPER-1", meter_start=100, timestamp="2026-11-27T11:00:00Z")
        )
        stop = call.StopTransaction(
            meter_stop=600, timestamp="2026-11-27T11:30:00Z", transaction_id=start.transaction_id
        )
        for _ in range(3):
            answer = await cp.call(stop)  # would raise on a CallError
            assert answer.id_tag_info is None
        assert (
            await cp.call(call.StopTransaction(meter_stop=1, timestamp="2026-11-27T11:31:00Z", transaction_id=-1))
        ) is not None
        assert (
            await cp.call(
                call.StopTransaction(meter_stop=1, timestamp="2026-11-27T11:32:00Z", transaction_id=987_654_321)
            )
        ) is not None
        # still answering normally afterwards
        assert (await cp.call(call.Heartbeat())).current_time
    charging = await session_of(db, start.transaction_id)
    assert charging.energy_wh == 500 and charging.stopped_at is not None
    async with db() as s:
        kinds = list(
            (await s.execute(select(StationEvent.kind).where(StationEvent.station_id == charging.station_id))).scalars()
        )
    assert sorted(kinds) == [
        "StopTransaction.duplicate",
        "StopTransaction.duplicate",
        "StopTransaction.unknown",
        "StopTransaction.unknown",
    ]


async def test_offline_queued_transactions_with_old_timestamps_are_accepted_in_order(
    server: Server, db: Sessions
) -> None:
    station = await server.new_station()
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        ids = []
        for hour, (begin, end) in enumerate([(0, 2_000), (2_000, 5_000)]):
            start = await cp.call(
                call.StartTransaction(
                    connector_id=1, id_tag="Q", meter_start=begin, timestamp=f"2026-11-01T0{hour * 2}:00:00Z"
                )
            )
            await cp.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=start.transaction_id,
                    meter_value=[meter(f"2026-11-01T0{hour * 2}:30:00Z", (begin + end) // 2)],
                )
            )
            await cp.call(
                call.StopTransaction(
                    meter_stop=end, timestamp=f"2026-11-01T0{hour * 2 + 1}:00:00Z", transaction_id=start.transaction_id
                )
            )
            ids.append(start.transaction_id)
    first, second = [await session_of(db, i) for i in ids]
    assert (first.energy_wh, second.energy_wh) == (2_000, 3_000)
    assert first.stop_reason == "Local" and second.stop_reason == "Local", "neither was superseded: they came in order"
    assert first.started_at.isoformat() == "2026-11-01T00:00:00+00:00"


async def test_a_remote_start_through_the_api_reaches_the_station(server: Server) -> None:
    station = await server.new_station()
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        async with server.api() as api:
            response = await api.post(
                f"/api/v1/stations/{station['id']}/commands",
                json={"name": "remote_start", "arguments": {"id_tag": "REMOTE1", "connector": 1,
                      "limit": {"unit": "A", "periods": [[0, 16]], "purpose": "Tx"}}},
            )  # fmt: skip
            assert response.status_code == 201, response.text
            assert response.json()["status"] == "answered" and response.json()["accepted"] is True
            config = await api.post(
                f"/api/v1/stations/{station['id']}/commands", json={"name": "get_configuration", "arguments": {}}
            )
            assert config.json()["response"]["configurationKey"][0]["key"] == "HeartbeatInterval"
            unanswered = await api.post(
                f"/api/v1/stations/{station['id']}/commands", json={"name": "reset", "arguments": {}}
            )
            assert unanswered.json()["status"] == "rejected" and "NotImplemented" in unanswered.json()["error"]
            bad = await api.post(
                f"/api/v1/stations/{station['id']}/commands",
                json={"name": "trigger_message", "arguments": {"message": "Nope"}},
            )
            assert bad.status_code == 400
        assert cp.received[0][0] == "RemoteStartTransaction" and cp.received[0][1]["id_tag"] == "REMOTE1"
        assert cp.received[0][1]["charging_profile"]["charging_profile_purpose"] == "TxProfile"
    async with server.api() as api:
        await asyncio.sleep(0.3)
        offline = await api.post(f"/api/v1/stations/{station['id']}/commands", json={"name": "reset", "arguments": {}})
        assert offline.json()["status"] == "offline"


async def test_live_status_shows_online_and_then_offline(server: Server) -> None:
    station = await server.new_station()
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        async with server.api() as api:
            live = (await api.get(f"/api/v1/stations/{station['id']}/status")).json()
        assert live["online"] is True and live["ocpp_version"] == "1.6"
        assert live["connectors"] == [
            {
                "evse": 1,
                "connector": 1,
                "status": "Charging",
                "error_code": None,
                "status_at": live["connectors"][0]["status_at"],
            }
        ]
    await asyncio.sleep(0.3)
    async with server.api() as api:
        assert (await api.get(f"/api/v1/stations/{station['id']}/status")).json()["online"] is False


async def test_pending_stations_may_only_boot(server: Server) -> None:
    station = await server.new_station(registration_status="Pending")
    async with connect(server, station) as cp:
        boot = await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        assert boot.status == "Pending" and boot.interval == 60
        with pytest.raises(Exception, match=r"SecurityError|not accepted"):
            await cp.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Available"), suppress=False
            )
