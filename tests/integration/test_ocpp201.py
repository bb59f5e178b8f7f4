"""OCPP 2.0.1 end to end, with the ``ocpp`` package's v201 ChargePoint as the station."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ocpp.v201 import call
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.charging.models import ChargingSession, MeterSample, StationEvent
from tests.integration.ocpp_support import Server, connect, start_server

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("ocpp201"), module_db_url)
    yield running
    assert running.platform.stop() == 0


def energy(at: str, wh: float, context: str = "Sample.Periodic", **extra: Any) -> dict[str, Any]:
    values = [
        {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context, "unitOfMeasure": {"unit": "Wh"}}
    ]
    if "kw" in extra:
        values.append({"value": extra["kw"], "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}})
    if "signed" in extra:
        values[0]["signedMeterValue"] = {"signedMeterData": extra["signed"], "signingMethod": "ECDSA-secp256r1-SHA256",
                                         "encodingMethod": "OCMF", "publicKey": "MFkw..."}  # fmt: skip
    return {"timestamp": at, "sampledValue": values}


def event(kind: str, seq: int, at: str, tx: str, **fields: Any) -> call.TransactionEvent:
    return call.TransactionEvent(
        event_type=kind, timestamp=at, trigger_reason=fields.pop("trigger", "Authorized"), seq_no=seq,
        transaction_info={"transactionId": tx, **fields.pop("info", {})}, **fields,
    )  # fmt: skip


async def session_of(db: Sessions, tx: str) -> ChargingSession:
    async with db() as s:
        return (await s.execute(select(ChargingSession).where(ChargingSession.transaction_id == tx))).scalar_one()


async def test_a_full_201_session_with_transaction_events(server: Server, db: Sessions) -> None:
    station = await server.new_station()
    await server.add_badge("AABBCCDD")
    async with connect(server, station, "2.0.1") as cp:
        boot = await cp.call(
            call.BootNotification(
                charging_station={"model": "Wallbox", "vendor_name": "ACME", "firmware_version": "2.1"},
                reason="PowerUp",
            )
        )
        assert boot.status == "Accepted"
        await cp.call(
            call.StatusNotification(
                timestamp="2026-11-27T12:00:00Z", connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        assert (await cp.call(call.Authorize(id_token={"idToken": "aabbccdd", "type": "ISO14443"}))).id_token_info[
            "status"
        ] == "Accepted"
        tx = "2d3e4f5a-0001"
        started = await cp.call(event("Started", 0, "2026-11-27T12:00:05Z", tx, id_token={"idToken": "AABBCCDD", "type": "ISO14443"},
                                      evse={"id": 1, "connectorId": 1}, meter_value=[energy("2026-11-27T12:00:05Z", 1000, "Transaction.Begin")],
                                      info={"chargingState": "Charging"}))  # fmt: skip
        assert started.id_token_info["status"] == "Accepted"
        await cp.call(event("Updated", 1, "2026-11-27T12:30:00Z", tx, trigger="MeterValuePeriodic",
                            meter_value=[energy("2026-11-27T12:30:00Z", 5000, kw=7.4, signed="OCMF|{}")]))  # fmt: skip
        await cp.call(call.MeterValues(evse_id=1, meter_value=[energy("2026-11-27T12:40:00Z", 6200, kw=7.2)]))
        await cp.call(event("Ended", 2, "2026-11-27T13:00:00Z", tx, trigger="EVCommunicationLost",
                            meter_value=[energy("2026-11-27T13:00:00Z", 8800, "Transaction.End")],
                            info={"stoppedReason": "EVDisconnected", "chargingState": "Idle"}))  # fmt: skip
    charging = await session_of(db, tx)
    assert charging.status == "completed" and charging.stop_reason == "EVDisconnected"
    assert (charging.meter_start_wh, charging.meter_stop_wh, charging.energy_wh) == (1000, 8800, 7800)
    assert charging.ocpp_evse_id == 1 and charging.authorization == "Accepted" and charging.last_seq_no == 2
    async with db() as s:
        samples = list((await s.execute(select(MeterSample).where(MeterSample.session_id == charging.id))).scalars())
    assert len(samples) == 6
    signed = next(m for m in samples if m.signed)
    assert (
        signed.signed is not None
        and signed.signed["signedMeterData"] == "OCMF|{}"
        and signed.signed["encodingMethod"] == "OCMF"
    )
    assert any(m.measurand == "Power.Active.Import" and m.value == 7400 and m.unit == "W" for m in samples)


async def test_events_are_upserted_on_station_and_transaction_with_seq_no(server: Server, db: Sessions) -> None:
    station = await server.new_station()
    async with connect(server, station, "2.0.1") as cp:
        await cp.call(call.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
        tx = "offline-tx-1"
        # Started got lost; the first event we hear is an Updated sent from the offline queue
        await cp.call(event("Updated", 3, "2026-11-20T08:10:00Z", tx, offline=True, evse={"id": 2, "connectorId": 1},
                            meter_value=[energy("2026-11-20T08:10:00Z", 300)]))  # fmt: skip
        await cp.call(event("Updated", 3, "2026-11-20T08:10:00Z", tx, offline=True))  # a repeat
        await cp.call(
            event("Updated", 6, "2026-11-20T08:40:00Z", tx, meter_value=[energy("2026-11-20T08:40:00Z", 900)])
        )  # a gap
        await cp.call(event("Ended", 7, "2026-11-20T09:00:00Z", tx, info={"stoppedReason": "Local"},
                            meter_value=[energy("2026-11-20T09:00:00Z", 1300)]))  # fmt: skip
        await cp.call(event("Ended", 7, "2026-11-20T09:00:00Z", tx, info={"stoppedReason": "Local"}))  # the Ended again
    charging = await session_of(db, tx)
    assert charging.status == "completed" and charging.offline is True and charging.ocpp_evse_id == 2
    assert charging.energy_wh == 1000 and charging.started_at.isoformat() == "2026-11-20T08:10:00+00:00"
    async with db() as s:
        kinds = sorted(
            (await s.execute(select(StationEvent.kind).where(StationEvent.station_id == charging.station_id))).scalars()
        )
    assert kinds == ["TransactionEvent.gap", "TransactionEvent.repeated_or_late", "TransactionEvent.repeated_or_late"]


async def test_notifications_are_kept(server: Server, db: Sessions) -> None:
    station = await server.new_station()
    async with connect(server, station, "2.0.1") as cp:
        await cp.call(call.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
        await cp.call(call.NotifyEvent(generated_at="2026-11-27T12:00:00Z", seq_no=0, event_data=[{
            "eventId": 1, "timestamp": "2026-11-27T12:00:00Z", "trigger": "Alerting", "actualValue": "true",
            "eventNotificationType": "HardWiredNotification", "component": {"name": "Connector"}, "variable": {"name": "Problem"}}]))  # fmt: skip
        await cp.call(call.SecurityEventNotification(type="FirmwareUpdated", timestamp="2026-11-27T12:00:00Z"))
        await cp.call(call.FirmwareStatusNotification(status="Installed"))
        await cp.call(call.LogStatusNotification(status="Uploaded"))
        await cp.call(call.NotifyReport(request_id=1, generated_at="2026-11-27T12:00:00Z", seq_no=0))
    async with db() as s:
        kinds = set((await s.execute(select(StationEvent.kind))).scalars())
    assert {
        "NotifyEvent",
        "SecurityEventNotification",
        "FirmwareStatusNotification",
        "LogStatusNotification",
        "NotifyReport",
    } <= kinds


async def test_remote_start_and_reset_through_the_api(server: Server) -> None:
    station = await server.new_station()
    async with connect(server, station, "2.0.1") as cp:
        await cp.call(call.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
        async with server.api() as api:
            start = await api.post(
                f"/api/v1/stations/{station['id']}/commands",
                json={"name": "remote_start", "arguments": {"id_tag": "R2", "evse": 1}},
            )
            reset = await api.post(
                f"/api/v1/stations/{station['id']}/commands", json={"name": "reset", "arguments": {"hard": True}}
            )
        assert start.json()["accepted"] and reset.json()["accepted"]
        assert cp.received == [("RequestStartTransaction", {"id_token": {"id_token": "R2", "type": "ISO14443"}, "evse_id": 1}),
                               ("Reset", {"type": "Immediate"})]  # fmt: skip
