"""What the platform does with each message a station sends, for OCPP 1.6 and 2.0.1.

Each handler runs in one database transaction and returns the answer only after it committed: what a
station was told is stored (DESIGN decision 2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from cpo.access.service import Authorization, authorize
from cpo.charging import presence, sessions
from cpo.charging.meter import Reading, make_sample
from cpo.sites.models import Station
from ocpp_gateway.connection import StationConnection

if TYPE_CHECKING:
    from ocpp_gateway.gateway import Gateway

Handler = Callable[["Gateway", StationConnection, Any], Awaitable[dict[str, Any]]]


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _utc(at: datetime) -> datetime:
    """OCPP times are UTC; some stations drop the 'Z'. Read a zoneless time as UTC rather than refuse it."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value)


# --- shared --------------------------------------------------------------------------------------------------


async def _boot(
    gw: Gateway, conn: StationConnection, vendor: str, model: str, serial: str | None, firmware: str | None
) -> dict[str, Any]:
    async with gw.sessions() as db, db.begin():
        station = await db.get(Station, conn.station.id)
        assert station is not None
        status = await presence.record_boot(db, station, vendor, model, serial, firmware)
    conn.registration_status = status
    # Accepted: the interval is the heartbeat; Pending/Rejected: when to try booting again (1.6 §4.2).
    interval = gw.settings.heartbeat_seconds if status == "Accepted" else gw.settings.retry_boot_seconds
    return {"status": status, "currentTime": now_text(), "interval": interval}


async def heartbeat(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    return {"currentTime": now_text()}


async def _event(gw: Gateway, conn: StationConnection, kind: str, req: Any) -> None:
    async with gw.sessions() as db, db.begin():
        await presence.record_event(db, _ref(conn), kind, _plain(req))


def _ref(conn: StationConnection) -> Station:
    """A detached station carrying just the ids the domain functions read."""
    return Station(id=conn.station.id, tenant_id=conn.station.tenant_id, identity=conn.station.identity)


def _recorder(kind: str, answer: dict[str, Any] | None = None) -> Handler:
    async def record(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
        await _event(gw, conn, kind, req)
        return dict(answer or {})

    return record


# --- OCPP 1.6 ------------------------------------------------------------------------------------------------


def _readings_16(meter_values: list[Any] | None) -> tuple[Reading, ...]:
    readings = []
    for item in meter_values or []:
        samples = []
        for sv in item.sampledValue:
            signed = {"format": "SignedData", "value": sv.value} if sv.format == "SignedData" else None
            samples.append(make_sample(sv.measurand, sv.value, sv.unit, sv.phase, sv.location, sv.context, signed))
        readings.append(Reading(_utc(item.timestamp), tuple(samples)))
    return tuple(readings)


async def boot_16(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    serial = req.chargePointSerialNumber or req.chargeBoxSerialNumber
    return await _boot(gw, conn, req.chargePointVendor, req.chargePointModel, serial, req.firmwareVersion)


async def status_16(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    # 1.6: connector 0 is the whole station; connector N is EVSE N with its one connector.
    evse, connector = (0, 0) if req.connectorId == 0 else (req.connectorId, 1)
    error = None if req.errorCode == "NoError" else req.errorCode
    at = _utc(req.timestamp) if req.timestamp else datetime.now(UTC)
    async with gw.sessions() as db, db.begin():
        await presence.record_status(db, _ref(conn), evse, connector, req.status, at, error, req.info)
    return {}


def _id_tag_info(auth: Authorization) -> dict[str, Any]:
    """OCPP 1.6 IdTagInfo: the status, and what a station may cache (expiry, the group token)."""
    info: dict[str, Any] = {"status": auth.status("1.6")}
    if auth.valid_to is not None:
        info["expiryDate"] = auth.valid_to.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if auth.group_uid is not None:
        info["parentIdTag"] = auth.group_uid
    return info


def _id_token_info(auth: Authorization) -> dict[str, Any]:
    """OCPP 2.0.1 IdTokenInfoType."""
    info: dict[str, Any] = {"status": auth.status("2.0.1")}
    if auth.valid_to is not None:
        info["cacheExpiryDateTime"] = auth.valid_to.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if auth.group_uid is not None:
        info["groupIdToken"] = {"idToken": auth.group_uid, "type": "Central"}
    return info


async def authorize_16(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    async with gw.sessions() as db, db.begin():
        result = await authorize(db, _ref(conn), req.idTag, datetime.now(UTC))
    return {"idTagInfo": _id_tag_info(result)}


async def start_16(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    async with gw.sessions() as db, db.begin():
        started = await sessions.start_transaction_16(
            db, _ref(conn), req.connectorId, req.idTag, req.meterStart, _utc(req.timestamp)
        )
    return {"transactionId": started.transaction_id, "idTagInfo": _id_tag_info(started.authorization)}


async def stop_16(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    async with gw.sessions() as db, db.begin():
        auth = await sessions.stop_transaction_16(
            db, _ref(conn), req.transactionId, req.meterStop, _utc(req.timestamp), req.reason, req.idTag,
            _readings_16(req.transactionData), _plain(req),
        )  # fmt: skip
    return {"idTagInfo": _id_tag_info(auth)} if auth else {}


async def meter_values_16(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    evse = req.connectorId or None
    report = sessions.MeterReport(
        conn.station.id,
        conn.station.tenant_id,
        _readings_16(req.meterValue),
        req.transactionId,
        evse,
        1 if evse else None,
    )
    await gw.meter_writer.write(report)
    return {}


async def data_transfer(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    await _event(gw, conn, "DataTransfer", req)
    return {"status": "UnknownVendorId"}


HANDLERS_16: dict[str, Handler] = {
    "BootNotification": boot_16,
    "Heartbeat": heartbeat,
    "StatusNotification": status_16,
    "Authorize": authorize_16,
    "StartTransaction": start_16,
    "StopTransaction": stop_16,
    "MeterValues": meter_values_16,
    "DataTransfer": data_transfer,
    "DiagnosticsStatusNotification": _recorder("DiagnosticsStatusNotification"),
    "FirmwareStatusNotification": _recorder("FirmwareStatusNotification"),
    "SignedFirmwareStatusNotification": _recorder("SignedFirmwareStatusNotification"),
    "SecurityEventNotification": _recorder("SecurityEventNotification"),
    "LogStatusNotification": _recorder("LogStatusNotification"),
}


# --- OCPP 2.0.1 ----------------------------------------------------------------------------------------------


def _sample_201(sv: Any) -> Any:
    unit = sv.unitOfMeasure.unit if sv.unitOfMeasure and sv.unitOfMeasure.unit else None
    multiplier = sv.unitOfMeasure.multiplier if sv.unitOfMeasure and sv.unitOfMeasure.multiplier else 0
    raw = Decimal(repr(sv.value)).scaleb(multiplier) if multiplier else repr(sv.value)
    signed = _plain(sv.signedMeterValue) if sv.signedMeterValue else None
    return make_sample(sv.measurand, str(raw), unit, sv.phase, sv.location, sv.context, signed)


def _readings_201(meter_values: list[Any] | None) -> tuple[Reading, ...]:
    return tuple(
        Reading(_utc(mv.timestamp), tuple(_sample_201(sv) for sv in mv.sampledValue)) for mv in meter_values or []
    )


async def boot_201(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    station = req.chargingStation
    return await _boot(gw, conn, station.vendorName, station.model, station.serialNumber, station.firmwareVersion)


async def status_201(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    async with gw.sessions() as db, db.begin():
        await presence.record_status(
            db, _ref(conn), req.evseId, req.connectorId, req.connectorStatus, _utc(req.timestamp)
        )
    return {}


async def authorize_201(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    async with gw.sessions() as db, db.begin():
        if req.idToken.type == "NoAuthorization":
            return {"idTokenInfo": {"status": "Accepted"}}
        result = await authorize(db, _ref(conn), req.idToken.idToken, datetime.now(UTC))
    return {"idTokenInfo": _id_token_info(result)}


async def transaction_event_201(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    info = req.transactionInfo
    event = sessions.TransactionEvent(
        event_type=req.eventType,
        at=_utc(req.timestamp),
        trigger_reason=req.triggerReason,
        seq_no=req.seqNo,
        transaction_id=info.transactionId,
        charging_state=info.chargingState,
        stopped_reason=info.stoppedReason,
        offline=bool(req.offline),
        id_token=req.idToken.idToken if req.idToken else None,
        id_token_type=req.idToken.type if req.idToken else None,
        evse=req.evse.id if req.evse else None,
        connector=req.evse.connectorId if req.evse else None,
        readings=_readings_201(req.meterValue),
    )
    async with gw.sessions() as db, db.begin():
        auth = await sessions.transaction_event_201(db, _ref(conn), event, _plain(req))
    return {"idTokenInfo": _id_token_info(auth)} if auth else {}


async def meter_values_201(gw: Gateway, conn: StationConnection, req: Any) -> dict[str, Any]:
    evse = req.evseId or None
    report = sessions.MeterReport(conn.station.id, conn.station.tenant_id, _readings_201(req.meterValue), None, evse)
    await gw.meter_writer.write(report)
    return {}


HANDLERS_201: dict[str, Handler] = {
    "BootNotification": boot_201,
    "Heartbeat": heartbeat,
    "StatusNotification": status_201,
    "Authorize": authorize_201,
    "TransactionEvent": transaction_event_201,
    "MeterValues": meter_values_201,
    "DataTransfer": data_transfer,
    "NotifyReport": _recorder("NotifyReport"),
    "NotifyEvent": _recorder("NotifyEvent"),
    "SecurityEventNotification": _recorder("SecurityEventNotification"),
    "FirmwareStatusNotification": _recorder("FirmwareStatusNotification"),
    "LogStatusNotification": _recorder("LogStatusNotification"),
}

HANDLERS: dict[str, dict[str, Handler]] = {"1.6": HANDLERS_16, "2.0.1": HANDLERS_201}
# Allowed before the station is Accepted (1.6 §4.2; 2.0.1 B02.FR.09: anything else gets SecurityError).
BEFORE_ACCEPTANCE = frozenset({"BootNotification", "Heartbeat"})
