"""Charging sessions from OCPP transactions, idempotent against everything stations resend (DESIGN 3)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Numeric, bindparam, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.access.service import ALLOWED_WITHOUT_TOKEN, Authorization, authorize
from cpo.adhoc import service as adhoc
from cpo.charging.meter import Reading, energy_register, power, state_of_charge
from cpo.charging.models import OCPP16_TRANSACTION_IDS, ChargingSession, MeterSample
from cpo.charging.presence import record_event
from cpo.outbox.service import emit
from cpo.sites.models import Evse, Station
from cpo.tariffs import service as tariffs

SUPERSEDED = "SupersededByNewTransaction"


async def _evse_uuid(session: AsyncSession, station: Station, number: int | None) -> uuid.UUID | None:
    if not number:
        return None
    query = select(Evse.id).where(Evse.station_id == station.id, Evse.ocpp_evse_id == number)
    return (await session.execute(query)).scalar_one_or_none()


def _session_event(charging: ChargingSession) -> dict[str, Any]:
    return {
        "id": charging.id, "station_id": charging.station_id, "transaction_id": charging.transaction_id,
        "evse": charging.ocpp_evse_id, "connector": charging.ocpp_connector_id,
        "energy_wh": str(charging.energy_wh), "status": charging.status,
    }  # fmt: skip


async def store_readings(
    session: AsyncSession,
    station: Station,
    readings: Sequence[Reading],
    charging: ChargingSession | None,
    evse: int | None,
    connector: int | None,
) -> None:
    """Keep every sample; move the session's live figures (energy, power, SoC) to the newest reading."""
    rows = [
        {
            "tenant_id": station.tenant_id,
            "station_id": station.id,
            "session_id": charging.id if charging else None,
            "ocpp_evse_id": evse,
            "ocpp_connector_id": connector,
            "sampled_at": reading.at,
            "measurand": s.measurand,
            "phase": s.phase,
            "unit": s.unit,
            "location": s.location,
            "context": s.context,
            "value": s.value,
            "raw_value": s.raw,
            "signed": s.signed,
        }
        for reading in readings
        for s in reading.samples
    ]
    if rows:
        await session.execute(insert(MeterSample), rows)
    if charging is None:
        return
    for reading in sorted(readings, key=lambda r: r.at):
        register = energy_register(reading)
        if register is not None:
            if charging.meter_start_wh is None:
                charging.meter_start_wh = register
            if charging.status == "active" or charging.meter_stop_wh is None:
                charging.energy_wh = max(Decimal(0), register - charging.meter_start_wh)
        if (watts := power(reading)) is not None and charging.status == "active":
            charging.power_w = watts
        if (soc := state_of_charge(reading)) is not None:
            charging.soc_percent = soc


# --- OCPP 1.6 ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    transaction_id: int
    authorization: Authorization


async def start_transaction_16(
    session: AsyncSession,
    station: Station,
    connector: int,
    id_tag: str,
    meter_start_wh: int,
    at: datetime,
) -> Started:
    """StartTransaction: a new session with a new integer id, or the same one for a resent start.

    A refused start still gets its id (OCPP 1.6 §5.10: the station needs one, and may go on and send its
    stop), but the session is recorded as refused, never active.
    """
    key = f"{connector}|{at.isoformat()}|{meter_start_wh}|{id_tag}"
    existing = (
        await session.execute(
            select(ChargingSession).where(ChargingSession.station_id == station.id, ChargingSession.start_key == key)
        )
    ).scalar_one_or_none()
    if existing is not None and existing.ocpp16_id is not None:
        # The same start again: the same id and the same answer as the first time.
        return Started(existing.ocpp16_id, _stored_authorization(existing))
    auth = await authorize(session, station, id_tag, at, evse_number=connector)
    number = int(await session.scalar(select(OCPP16_TRANSACTION_IDS.next_value())) or 0)
    inserted = await session.execute(
        insert(ChargingSession)
        .values(
            id=uuid.uuid4(),
            tenant_id=station.tenant_id,
            station_id=station.id,
            ocpp_version="1.6",
            transaction_id=str(number),
            ocpp16_id=number,
            start_key=key,
            ocpp_evse_id=connector,
            ocpp_connector_id=1,
            evse_id=await _evse_uuid(session, station, connector),
            id_tag=id_tag,
            status="active" if auth.accepted else "refused",
            **_allocation(auth, "1.6"),
            started_at=at,
            meter_start_wh=Decimal(meter_start_wh),
            energy_wh=Decimal(0),
        )
        .on_conflict_do_nothing(index_elements=["station_id", "start_key"])
        .returning(ChargingSession.id)
    )
    new_id = inserted.scalar_one_or_none()
    if new_id is None:  # the same start, committed by a concurrent resend a moment ago
        winner = (
            await session.execute(
                select(ChargingSession.ocpp16_id).where(
                    ChargingSession.station_id == station.id, ChargingSession.start_key == key
                )
            )
        ).scalar_one()
        return Started(int(winner or 0), auth)
    charging = await session.get(ChargingSession, new_id)
    assert charging is not None
    if auth.accepted:
        await _supersede(session, station, charging)
        if auth.payment_id is not None:
            charging.session_class = "ad_hoc"  # paid by card at the EVSE: priced as ad hoc, linked to its payment
            await adhoc.session_started(session, auth.payment_id, charging)
        await tariffs.on_session_start(session, charging)
        await emit(session, "session.started", _session_event(charging), station.tenant_id)
    else:
        await record_event(
            session, station, "StartTransaction.refused", {"session": str(new_id), "reason": auth.reason}
        )
    return Started(number, auth)


def _allocation(auth: Authorization, version: str) -> dict[str, Any]:
    """What a session keeps of its authorization: the badge, the holder, and where its cost goes."""
    return {
        "badge_id": auth.badge_id, "authorization": auth.status(version), "auth_reason": auth.reason,
        "person_id": auth.person_id, "department_id": auth.department_id, "cost_centre_id": auth.cost_centre_id,
        "partner": auth.partner, "partner_id": auth.partner_id,
    }  # fmt: skip


def _stored_authorization(charging: ChargingSession) -> Authorization:
    return Authorization(charging.auth_reason or "allowed", charging.badge_id, charging.person_id)  # type: ignore[arg-type]


async def _supersede(session: AsyncSession, station: Station, charging: ChargingSession) -> None:
    """A connector runs one transaction at a time: an older one still open lost its stop; close it."""
    older = (
        await session.execute(
            select(ChargingSession).where(
                ChargingSession.station_id == station.id,
                ChargingSession.ocpp_evse_id == charging.ocpp_evse_id,
                ChargingSession.status == "active",
                ChargingSession.started_at < charging.started_at,
                ChargingSession.id != charging.id,
            )
        )
    ).scalars()
    for stale in older:
        stale.status, stale.stopped_at, stale.stop_reason = "completed", charging.started_at, SUPERSEDED
        stale.power_w = None
        await record_event(session, station, "session.superseded", {"session": str(stale.id), "by": str(charging.id)})
        await emit(session, "session.completed", _session_event(stale), station.tenant_id)


async def stop_transaction_16(
    session: AsyncSession,
    station: Station,
    transaction_id: int,
    meter_stop_wh: int,
    at: datetime,
    reason: str | None,
    id_tag: str | None,
    readings: Sequence[Reading],
    payload: dict[str, Any],
) -> Authorization | None:
    """StopTransaction: always acknowledged. Unknown ids and repeats are recorded, never refused."""
    charging = (
        await session.execute(
            select(ChargingSession)
            .where(ChargingSession.station_id == station.id, ChargingSession.ocpp16_id == transaction_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    # the token is judged as one shown in this session (a paid start's token is good for its own session)
    ignore = charging.id if charging is not None else None
    auth = await authorize(session, station, id_tag, at, ignore_session=ignore) if id_tag else None
    if charging is None:
        await record_event(session, station, "StopTransaction.unknown", payload)
        await store_readings(session, station, readings, None, None, None)
        return auth
    if charging.stopped_at is not None:
        same = charging.stopped_at == at and charging.meter_stop_wh == Decimal(meter_stop_wh)
        await record_event(session, station, "StopTransaction." + ("duplicate" if same else "conflicting"), payload)
        return auth
    await store_readings(session, station, readings, charging, charging.ocpp_evse_id, charging.ocpp_connector_id)
    # A refused start stays refused: its stop is recorded, it never becomes a billable session.
    charging.status = "completed" if charging.status == "active" else charging.status
    charging.stopped_at = at
    charging.stop_reason = reason or "Local"
    charging.meter_stop_wh = Decimal(meter_stop_wh)
    charging.power_w = None
    start = charging.meter_start_wh or Decimal(0)
    charging.energy_wh = max(Decimal(0), charging.meter_stop_wh - start)
    if charging.meter_stop_wh < start:
        await record_event(session, station, "StopTransaction.meter_below_start", payload)
    if charging.status == "completed":
        await emit(session, "session.completed", _session_event(charging), station.tenant_id)
    return auth


# --- OCPP 2.0.1 ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransactionEvent:
    event_type: str  # Started | Updated | Ended
    at: datetime
    trigger_reason: str
    seq_no: int
    transaction_id: str
    charging_state: str | None = None
    stopped_reason: str | None = None
    offline: bool = False
    id_token: str | None = None
    id_token_type: str | None = None
    evse: int | None = None
    connector: int | None = None
    readings: tuple[Reading, ...] = ()


async def transaction_event_201(
    session: AsyncSession, station: Station, event: TransactionEvent, payload: dict[str, Any]
) -> Authorization | None:
    """TransactionEvent: upserted on (station, transactionId); seqNo spots repeats and gaps."""
    statement = insert(ChargingSession).values(
        id=uuid.uuid4(), tenant_id=station.tenant_id, station_id=station.id, ocpp_version="2.0.1",
        transaction_id=event.transaction_id, status="active", started_at=event.at, energy_wh=Decimal(0),
        offline=event.offline,
    )  # fmt: skip
    await session.execute(statement.on_conflict_do_nothing(index_elements=["station_id", "transaction_id"]))
    charging = (
        await session.execute(
            select(ChargingSession)
            .where(ChargingSession.station_id == station.id, ChargingSession.transaction_id == event.transaction_id)
            .with_for_update()
        )
    ).scalar_one()
    new = charging.last_seq_no is None and charging.created_at == charging.updated_at
    auth = None
    if event.id_token is not None:
        if event.id_token_type == "NoAuthorization":  # noqa: S105 - a token type, not a password
            auth = ALLOWED_WITHOUT_TOKEN
        else:
            auth = await authorize(session, station, event.id_token, event.at, event.evse, ignore_session=charging.id)
    if charging.last_seq_no is not None and event.seq_no <= charging.last_seq_no:
        await record_event(session, station, "TransactionEvent.repeated_or_late", payload)
        # A late message still carries real meter values; its state changes are already superseded.
        if event.seq_no != charging.last_seq_no:
            await store_readings(session, station, event.readings, charging, event.evse, event.connector)
        return auth
    if charging.last_seq_no is not None and event.seq_no > charging.last_seq_no + 1:
        await record_event(session, station, "TransactionEvent.gap", {"after": charging.last_seq_no, **payload})
    charging.last_seq_no = event.seq_no
    if event.event_type == "Started" or new:
        charging.started_at = min(charging.started_at, event.at)
    if event.evse is not None:
        charging.ocpp_evse_id = event.evse
        charging.evse_id = await _evse_uuid(session, station, event.evse)
    if event.connector is not None:
        charging.ocpp_connector_id = event.connector
    if event.id_token is not None and auth is not None and charging.id_tag is None:
        # The token that started (or authorized) the transaction; a later one (stopping it) is not stored.
        charging.id_tag, charging.id_token_type = event.id_token, event.id_token_type
        for name, value in _allocation(auth, "2.0.1").items():
            setattr(charging, name, value)
        if auth.payment_id is not None and auth.accepted:
            charging.session_class = "ad_hoc"
            await adhoc.session_started(session, auth.payment_id, charging)
            await tariffs.on_session_start(session, charging)
        if not auth.accepted and charging.status == "active":
            charging.status = "refused"
            await record_event(session, station, "TransactionEvent.refused", {"reason": auth.reason, **payload})
    if event.charging_state is not None:
        if event.charging_state != charging.charging_state:
            # kept as it changes: charging or parked decides TIME or PARKING_TIME in the price
            charging.state_changes = [*(charging.state_changes or []), [event.at.isoformat(), event.charging_state]]
        charging.charging_state = event.charging_state
    charging.offline = charging.offline or event.offline
    await store_readings(session, station, event.readings, charging, event.evse, event.connector)
    if event.event_type == "Ended" and charging.stopped_at is None:
        charging.status = "completed" if charging.status == "active" else charging.status
        charging.stopped_at = event.at
        charging.stop_reason = event.stopped_reason or "Local"
        charging.power_w = None
        ends = [r for r in event.readings if energy_register(r) is not None]
        if ends:
            charging.meter_stop_wh = energy_register(max(ends, key=lambda r: r.at))
        elif charging.meter_start_wh is not None:
            charging.meter_stop_wh = charging.meter_start_wh + charging.energy_wh
        if charging.status == "completed":
            await emit(session, "session.completed", _session_event(charging), station.tenant_id)
    elif new and charging.status == "active":
        await emit(session, "session.started", _session_event(charging), station.tenant_id)
    if charging.status != "refused" and charging.session_class is None and (charging.id_tag is not None or new):
        await tariffs.on_session_start(session, charging)
    return auth


async def active_sessions(session: AsyncSession, tenant_id: uuid.UUID) -> list[ChargingSession]:
    query = (
        select(ChargingSession)
        .where(ChargingSession.tenant_id == tenant_id, ChargingSession.status == "active")
        .order_by(ChargingSession.started_at.desc())
    )
    return list((await session.execute(query)).scalars())


async def count_samples(session: AsyncSession, session_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(MeterSample).where(MeterSample.session_id == session_id)
    return int(await session.scalar(query) or 0)


async def copy_rows(session: AsyncSession, table: str, rows: list[dict[str, Any]]) -> None:
    """Bulk insert through PostgreSQL's COPY, in the session's transaction: the fastest way rows go in."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    columns = list(rows[0])
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table, records=[tuple(row[c] for c in columns) for row in rows], columns=columns
    )


@dataclass(frozen=True, slots=True)
class MeterReport:
    """One MeterValues message, ready to be stored together with many others."""

    station_id: uuid.UUID
    tenant_id: uuid.UUID
    readings: tuple[Reading, ...]
    transaction_16: int | None = None
    evse: int | None = None
    connector: int | None = None


_LIVE_UPDATE = (
    update(ChargingSession.__table__)  # type: ignore[arg-type]
    .where(ChargingSession.__table__.c.id == bindparam("b_id"), ChargingSession.__table__.c.status == "active")
    .values(
        meter_start_wh=func.coalesce(ChargingSession.__table__.c.meter_start_wh, bindparam("b_start")),
        energy_wh=bindparam("b_energy"),
        power_w=func.coalesce(bindparam("b_power", type_=Numeric), ChargingSession.__table__.c.power_w),
        soc_percent=func.coalesce(bindparam("b_soc", type_=Numeric), ChargingSession.__table__.c.soc_percent),
        updated_at=func.now(),
    )
)


_LIVE_UPDATE_NO_ENERGY = (
    update(ChargingSession.__table__)  # type: ignore[arg-type]
    .where(ChargingSession.__table__.c.id == bindparam("b_id"), ChargingSession.__table__.c.status == "active")
    .values(
        power_w=func.coalesce(bindparam("b_power", type_=Numeric), ChargingSession.__table__.c.power_w),
        soc_percent=func.coalesce(bindparam("b_soc", type_=Numeric), ChargingSession.__table__.c.soc_percent),
        updated_at=func.now(),
    )
)


async def store_meter_reports(session: AsyncSession, reports: Sequence[MeterReport]) -> None:
    """Many MeterValues in a few statements: find their sessions, insert every sample, move live figures."""
    table = ChargingSession.__table__
    found: dict[tuple[str, uuid.UUID, int], Any] = {}
    tx_ids = sorted({r.transaction_16 for r in reports if r.transaction_16 is not None})
    if tx_ids:
        rows = await session.execute(
            select(table.c.id, table.c.station_id, table.c.ocpp16_id, table.c.meter_start_wh).where(
                table.c.ocpp16_id.in_(tx_ids)
            )
        )
        for row in rows:
            found[("tx", row.station_id, row.ocpp16_id)] = row
    by_evse = sorted({(r.station_id, r.evse) for r in reports if r.transaction_16 is None and r.evse})
    if by_evse:
        rows = await session.execute(
            select(table.c.id, table.c.station_id, table.c.ocpp_evse_id, table.c.meter_start_wh)
            .where(table.c.status == "active", tuple_(table.c.station_id, table.c.ocpp_evse_id).in_(by_evse))
            .order_by(table.c.station_id, table.c.ocpp_evse_id, table.c.started_at.desc())
            .distinct(table.c.station_id, table.c.ocpp_evse_id)
        )
        for row in rows:
            found[("evse", row.station_id, row.ocpp_evse_id)] = row

    samples: list[dict[str, Any]] = []
    live: dict[uuid.UUID, dict[str, Any]] = {}
    for report in reports:
        if report.transaction_16 is not None:
            charging = found.get(("tx", report.station_id, report.transaction_16))
        else:
            charging = found.get(("evse", report.station_id, report.evse or 0))
        session_id = charging.id if charging is not None else None
        for reading in sorted(report.readings, key=lambda r: r.at):
            for s in reading.samples:
                samples.append({
                    "tenant_id": report.tenant_id, "station_id": report.station_id, "session_id": session_id,
                    "ocpp_evse_id": report.evse, "ocpp_connector_id": report.connector, "sampled_at": reading.at,
                    "measurand": s.measurand, "phase": s.phase, "unit": s.unit, "location": s.location,
                    "context": s.context, "value": s.value, "raw_value": s.raw,
                    # COPY hands jsonb to the driver's codec, which takes JSON text
                    "signed": msgspec.json.encode(s.signed).decode() if s.signed is not None else None,
                })  # fmt: skip
            if charging is None:
                continue
            figures = live.setdefault(
                charging.id,
                {
                    "b_id": charging.id,
                    "b_start": charging.meter_start_wh,
                    "b_energy": None,
                    "b_power": None,
                    "b_soc": None,
                },
            )
            if (register := energy_register(reading)) is not None:
                if figures["b_start"] is None:
                    figures["b_start"] = register
                figures["b_energy"] = max(Decimal(0), register - figures["b_start"])
            if (watts := power(reading)) is not None:
                figures["b_power"] = watts
            if (soc := state_of_charge(reading)) is not None:
                figures["b_soc"] = soc
    if samples:
        await copy_rows(session, MeterSample.__tablename__, samples)
    updates = [f for f in live.values() if f["b_energy"] is not None]
    if updates:
        await session.execute(_LIVE_UPDATE, updates)
    others = [{k: f[k] for k in ("b_id", "b_power", "b_soc")} for f in live.values() if f["b_energy"] is None]
    if others:
        await session.execute(_LIVE_UPDATE_NO_ENERGY, others)
