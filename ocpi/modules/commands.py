"""Commands, receiver interface: a partner starts and stops its drivers' sessions, reserves and unlocks.

The answer is immediate (CommandResponse with a timeout); the station is then asked through the core's
command port, and the outcome is POSTed to the partner's ``response_url`` (CommandResult).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.access.service import find_badge
from cpo.charging.commands import ChargerCommands, Command, CommandResult
from cpo.charging.models import ChargingSession, StationPresence
from cpo.roaming.models import RoamingPartner, RoamingReservation
from cpo.roaming.sealing import Sealer
from cpo.roaming.service import their_token
from cpo.sites.models import Evse, Site, Station
from ocpi import client
from ocpi.auth import Caller, provide_registered_caller
from ocpi.envelope import ENCODER, INVALID_PARAMETERS, UNKNOWN_LOCATION, OcpiError, answer
from ocpi.modules.locations import _published
from ocpi.modules.tokens import Id36, Token, Url, check_party, save_token
from ocpi.outbound import FAILURES, PartnerHttp, failed, partner_http_of

log = logging.getLogger("cpo.ocpi")
TIMEOUT_SECONDS = 60
_running: set[asyncio.Task[None]] = set()


# Field sizes from OCPI 2.2.1 mod_commands (CiString(36) ids, URL string(255)): refused as 2001 when longer.
class StartSession(msgspec.Struct):
    response_url: Url
    token: Token
    location_id: Id36
    evse_uid: Id36 | None = None
    connector_id: Id36 | None = None
    authorization_reference: Id36 | None = None


class StopSession(msgspec.Struct):
    response_url: Url
    session_id: Id36


class ReserveNow(msgspec.Struct):
    response_url: Url
    token: Token
    expiry_date: datetime
    reservation_id: Id36
    location_id: Id36
    evse_uid: Id36 | None = None
    authorization_reference: Id36 | None = None


class CancelReservation(msgspec.Struct):
    response_url: Url
    reservation_id: Id36


class UnlockConnector(msgspec.Struct):
    response_url: Url
    location_id: Id36
    evse_uid: Id36
    connector_id: Id36


BODIES: dict[str, type[msgspec.Struct]] = {
    "START_SESSION": StartSession, "STOP_SESSION": StopSession, "RESERVE_NOW": ReserveNow,
    "CANCEL_RESERVATION": CancelReservation, "UNLOCK_CONNECTOR": UnlockConnector,
}  # fmt: skip
Outcome = Literal["ACCEPTED", "CANCELED_RESERVATION", "EVSE_OCCUPIED", "EVSE_INOPERATIVE", "FAILED", "NOT_SUPPORTED",
                  "REJECTED", "TIMEOUT", "UNKNOWN_RESERVATION"]  # fmt: skip


async def _place(
    db: AsyncSession, caller: Caller, location_id: str, evse_uid: str | None
) -> tuple[Station, Evse | None]:
    """The station (and EVSE) a published location and EVSE uid name; 2003 when there is none."""
    try:
        site_id = uuid.UUID(location_id)
    except ValueError:
        raise OcpiError(UNKNOWN_LOCATION, f"unknown location {location_id}", 404) from None
    site = (await db.execute(_published(caller.partner.tenant_id).where(Site.id == site_id))).scalar_one_or_none()
    if site is None:
        raise OcpiError(UNKNOWN_LOCATION, f"unknown location {location_id}", 404)
    query = select(Evse, Station).join(Station, Station.id == Evse.station_id).where(
        Station.site_id == site.id, Evse.public)  # fmt: skip
    if evse_uid is not None:
        query = query.where(Evse.uid == evse_uid)
    row = (await db.execute(query.order_by(Evse.uid).limit(1))).first()
    if row is None:
        raise OcpiError(UNKNOWN_LOCATION, f"no EVSE {evse_uid or ''} at location {location_id}", 404)
    return row[1], row[0]


async def _reservation(db: AsyncSession, partner: RoamingPartner, body: ReserveNow, station: Station) -> int:
    """Our id for the partner's reservation, the same one again when they replace it (same reservation_id)."""
    values = {"tenant_id": partner.tenant_id, "partner_id": partner.id, "reservation_id": body.reservation_id.lower(),
              "station_id": station.id, "evse_uid": body.evse_uid, "expires_at": body.expiry_date,
              "response_url": body.response_url, "status": "requested"}  # fmt: skip
    statement = insert(RoamingReservation).values(**values)
    return int((await db.execute(statement.on_conflict_do_update(
        index_elements=["partner_id", "reservation_id"],
        set_={k: statement.excluded[k] for k in ("station_id", "evse_uid", "expires_at", "response_url", "status")},
    ).returning(RoamingReservation.id))).scalar_one())  # fmt: skip


def _connector_number(connector_id: str) -> int | None:
    """Our connectors' OCPI ids are their numbers at the station: ASCII digits only (``str.isdigit`` also takes
    superscripts, which ``int`` refuses)."""
    if connector_id.isascii() and connector_id.isdigit() and 0 < int(connector_id) < 2**31:
        return int(connector_id)
    return None


def _rejected(request: Request[Any, Any, Any], reason: str) -> Response[bytes]:
    """CommandResponse REJECTED, with the reason as its message (OCPI 2.2.1 mod_commands 13.3.2, 13.4.1)."""
    return answer(request, {"result": "REJECTED", "timeout": 0, "message": [{"language": "en", "text": reason}]})


async def _last_partner(db: AsyncSession, station: Station, evse: Evse) -> uuid.UUID | None:
    """The roaming partner of the most recent session at the EVSE (active, ended or refused), if any: the EVSE
    is the unit a session holds, whichever of its connectors the cable is in."""
    query = select(ChargingSession.partner_id).where(
        ChargingSession.tenant_id == station.tenant_id, ChargingSession.station_id == station.id,
        ChargingSession.ocpp_evse_id == evse.ocpp_evse_id,
    ).order_by(ChargingSession.started_at.desc(), ChargingSession.created_at.desc()).limit(1)  # fmt: skip
    found: uuid.UUID | None = await db.scalar(query)
    return found


def _outcome(result: CommandResult) -> Outcome:
    if result.status == "timeout":
        return "TIMEOUT"
    if result.status in ("offline", "error"):
        return "FAILED"
    if result.accepted:
        return "ACCEPTED"
    status = str((result.response or {}).get("status", ""))
    refusals: dict[str, Outcome] = {"Occupied": "EVSE_OCCUPIED", "Unavailable": "EVSE_INOPERATIVE",
                                    "Faulted": "EVSE_INOPERATIVE"}  # fmt: skip
    return refusals.get(status, "REJECTED")


async def _report(
    partner_http: PartnerHttp, partner: RoamingPartner, sealer: Sealer, response_url: str, outcome: Outcome
) -> None:
    token = their_token(partner, sealer)
    if token is None:
        return
    try:
        async with partner_http.client() as http:
            await http.post(response_url, content=ENCODER.encode({"result": outcome}),
                            headers=client.headers(token, partner.plain_tokens) | {"Content-Type": "application/json"})  # fmt: skip
    except FAILURES as error:
        failed("POST", response_url, error)
        log.info("a command result could not be delivered", extra={"partner": str(partner.id)})


def _later(work: Any) -> None:
    task = asyncio.create_task(work)
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _version_of(db: AsyncSession, station: Station) -> str:
    return str(await db.scalar(select(StationPresence.ocpp_version).where(
        StationPresence.station_id == station.id)) or "1.6")  # fmt: skip


@post("/2.2.1/commands/{command:str}", status_code=200,
      dependencies={"caller": Provide(provide_registered_caller)})  # fmt: skip
async def receive_command(
    request: Request[Any, Any, Any], state: State, db: AsyncSession, caller: Caller, command: str
) -> Response[bytes]:
    kind = BODIES.get(command.upper())
    if kind is None:
        return answer(request, {"result": "NOT_SUPPORTED", "timeout": 0}, 2000, f"unknown command {command}", 404)
    try:
        body: Any = msgspec.json.decode(await request.body(), type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise OcpiError(INVALID_PARAMETERS, f"{command}: {error}") from None
    partner_http = partner_http_of(state)
    client.checked(partner_http, body.response_url, "response_url")  # refused now, not after the station acts
    if isinstance(body, StartSession | ReserveNow):
        # the driver's token must be one of the caller's parties: checked before anything is written
        check_party(caller, body.token.country_code, body.token.party_id)
        if body.token.last_updated.tzinfo is None:
            raise OcpiError(INVALID_PARAMETERS, "token.last_updated: a UTC time (ending in Z)")
    if isinstance(body, ReserveNow) and body.expiry_date.tzinfo is None:
        raise OcpiError(INVALID_PARAMETERS, "expiry_date: a UTC time (ending in Z)")
    if isinstance(body, UnlockConnector) and not _connector_number(body.connector_id):
        raise OcpiError(INVALID_PARAMETERS, "connector_id: a connector of the EVSE (1, 2, ...)")
    commands: ChargerCommands = state.commands
    sealer: Sealer = state.sealer
    partner = caller.partner
    actor = f"ocpi:{partner.id}"
    # for reservations: the status each outcome leads to (else the second), and which reservation
    settle: tuple[dict[str, str], str | None, int] | None = None
    async with db.begin():
        if isinstance(body, StartSession | ReserveNow):
            station, evse = await _place(db, caller, body.location_id, body.evse_uid)
            # The station looks a presented uid up among the tenant's own badges first (whatever its case, byte
            # order or padding), so a start with a uid one of them matches would be that person's session and
            # bill: refused before anything is kept or sent (OCPI 2.2.1 mod_commands 13.4.1: REJECTED).
            if await find_badge(db, partner.tenant_id, body.token.uid) is not None:
                return _rejected(request, f"token {body.token.uid} cannot be used at this CPO")
            # kept as pushed (the station's start is then authorised), the caller's own copy of it
            await save_token(db, partner, body.token, whitelist="ALLOWED")
            version = await _version_of(db, station)
            if isinstance(body, StartSession):
                order = Command("remote_start", {"id_tag": body.token.uid, "evse": evse.ocpp_evse_id if evse else None,
                                                 "connector": evse.ocpp_evse_id if evse and version == "1.6" else None})  # fmt: skip
            else:
                reservation = await _reservation(db, partner, body, station)
                payload = ({"connectorId": evse.ocpp_evse_id if evse else 0, "expiryDate": body.expiry_date,
                            "idTag": body.token.uid, "reservationId": reservation}
                           if version == "1.6" else
                           {"id": reservation, "expiryDateTime": body.expiry_date,
                            "idToken": {"idToken": body.token.uid, "type": "ISO14443"},
                            "evseId": evse.ocpp_evse_id if evse else None})  # fmt: skip
                order = Command("raw", {"action": "ReserveNow", "payload": msgspec.to_builtins(
                    {k: v for k, v in payload.items() if v is not None})})  # fmt: skip
                settle = {"ACCEPTED": "active"}, "refused", reservation
        elif isinstance(body, StopSession):
            try:
                session_id = uuid.UUID(body.session_id)
            except ValueError:
                return answer(request, {"result": "UNKNOWN_SESSION", "timeout": 0})
            charging = await db.get(ChargingSession, session_id)
            if charging is None or charging.partner_id != partner.id or charging.tenant_id != partner.tenant_id:
                return answer(request, {"result": "UNKNOWN_SESSION", "timeout": 0})
            station = await db.get(Station, charging.station_id)  # type: ignore[assignment]
            order = Command("remote_stop", {"transaction_id": charging.transaction_id})
        elif isinstance(body, CancelReservation):
            found = (await db.execute(select(RoamingReservation).where(
                RoamingReservation.partner_id == partner.id,
                RoamingReservation.reservation_id == body.reservation_id.lower(),
                RoamingReservation.status.in_(("requested", "active"))))).scalar_one_or_none()  # fmt: skip
            if found is None:
                return _rejected(request, f"unknown reservation {body.reservation_id}")
            station = await db.get(Station, found.station_id)  # type: ignore[assignment]
            order = Command("raw", {"action": "CancelReservation", "payload": {"reservationId": found.id}})
            settle = {"ACCEPTED": "cancelled"}, None, found.id
        else:
            station, evse = await _place(db, caller, body.location_id, body.evse_uid)
            # Unlocking a cable mid-session ends someone's charge (or frees it to be taken): only the partner
            # whose driver had the EVSE last, charging now or just ended (a cable stuck after the session),
            # may ask (OCPI 2.2.1 mod_commands 13.4.3 UNLOCK_CONNECTOR; 13.4.1 REJECTED: "Session might not be
            # from a customer of the eMSP that send this request").
            if evse is None or await _last_partner(db, station, evse) != partner.id:
                return _rejected(request, f"no session of this partner at EVSE {body.evse_uid}")
            order = Command("unlock_connector", {"evse": evse.ocpp_evse_id,
                                                 "connector": _connector_number(body.connector_id)})  # fmt: skip

    async def carry_out() -> None:
        result = await commands.send(station.id, order, requested_by=actor)
        outcome = _outcome(result)
        if settle is not None:
            to_status = settle[0].get(outcome, settle[1])
            if to_status is not None:
                async with state.runtime.sessions() as session, session.begin():
                    await session.execute(update(RoamingReservation).where(RoamingReservation.id == settle[2])
                                          .values(status=to_status))  # fmt: skip
        await _report(partner_http, partner, sealer, body.response_url, outcome)

    _later(carry_out())
    return answer(request, {"result": "ACCEPTED", "timeout": TIMEOUT_SECONDS})


HANDLERS = [receive_command]
