"""Charging profiles and hub client info, receiver interfaces.

Charging profiles: a partner (a smart-charging service) limits its driver's session; the station gets a
transaction profile through the command port, and the outcome goes to ``response_url``.
Hub client info: a hub tells us which parties behind it are connected; kept per partner.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Request, Response, delete, get, put
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.charging.commands import ChargerCommands, ChargingLimit, Command, CommandResult
from cpo.charging.models import ChargingSession
from cpo.roaming import service as roaming
from cpo.roaming.models import RoamingPartner
from cpo.roaming.sealing import Sealer
from cpo.roaming.service import their_token
from ocpi import client
from ocpi.auth import Caller, provide_configured_caller, provide_registered_caller
from ocpi.envelope import ENCODER, INVALID_PARAMETERS, OcpiError, answer
from ocpi.modules.tokens import CountryCode, PartyId, Url
from ocpi.outbound import FAILURES, PartnerHttp, failed, partner_http_of

TIMEOUT_SECONDS = 60
_running: set[asyncio.Task[None]] = set()


class ProfilePeriod(msgspec.Struct):
    start_period: int
    limit: float


class ChargingProfile(msgspec.Struct):
    charging_rate_unit: Literal["W", "A"]
    start_date_time: datetime | None = None
    duration: int | None = None
    min_charging_rate: float | None = None
    charging_profile_period: list[ProfilePeriod] | None = None


class SetChargingProfile(msgspec.Struct):
    charging_profile: ChargingProfile
    response_url: Url


class ClientInfo(msgspec.Struct):
    party_id: PartyId
    country_code: CountryCode
    role: Literal["CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"]
    status: Literal["CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"]
    last_updated: datetime


def _later(work: Any) -> None:
    task = asyncio.create_task(work)
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _post(
    partner_http: PartnerHttp, partner: RoamingPartner, sealer: Sealer, url: str, body: dict[str, Any]
) -> None:
    token = their_token(partner, sealer)
    if token is None:
        return
    try:
        async with partner_http.client() as http:
            await http.post(url, content=ENCODER.encode(body),
                            headers=client.headers(token, partner.plain_tokens) | {"Content-Type": "application/json"})  # fmt: skip
    except FAILURES as error:
        failed("POST", url, error)  # OCPI asks for no retries: the partner's timeout tells it


async def _session(db: AsyncSession, caller: Caller, session_id: str) -> ChargingSession | None:
    try:
        found = await db.get(ChargingSession, uuid.UUID(session_id))
    except ValueError:
        return None
    if found is None or found.partner_id != caller.partner.id or found.tenant_id != caller.partner.tenant_id:
        return None
    return found


def _result(result: CommandResult) -> str:
    if result.accepted:
        return "ACCEPTED"
    return "UNKNOWN" if result.status in ("offline", "timeout", "error") else "REJECTED"


def _plain(result: CommandResult) -> dict[str, Any]:
    return {"result": _result(result)}


async def _active(db: AsyncSession, caller: Caller, session_id: str) -> ChargingSession | None:
    """The caller's running session, or None (answered UNKNOWN_SESSION)."""
    async with db.begin():
        charging = await _session(db, caller, session_id)
    return charging if charging is not None and charging.status == "active" else None


def _relay(
    request: Request[Any, Any, Any], state: State, caller: Caller, charging: ChargingSession, command: Command,
    response_url: str, outcome: Callable[[CommandResult], dict[str, Any]] = _plain,
) -> Response[bytes]:  # fmt: skip
    """Accept now; send ``command`` to the station, then post the station's outcome to ``response_url``."""
    partner_http = partner_http_of(state)
    client.checked(partner_http, response_url, "response_url")  # refused now, not after the station acts
    commands: ChargerCommands = state.commands
    sealer: Sealer = state.sealer
    partner = caller.partner

    async def carry_out() -> None:
        result = await commands.send(charging.station_id, command, requested_by=f"ocpi:{partner.id}")
        await _post(partner_http, partner, sealer, response_url, outcome(result))

    _later(carry_out())
    return answer(request, {"result": "ACCEPTED", "timeout": TIMEOUT_SECONDS})


UNKNOWN_SESSION = {"result": "UNKNOWN_SESSION", "timeout": 0}
ROUTE = "/2.2.1/chargingprofiles/{session_id:str}"
REGISTERED = {"caller": Provide(provide_registered_caller)}


@put(ROUTE, dependencies=REGISTERED)
async def set_profile(
    request: Request[Any, Any, Any], state: State, db: AsyncSession, caller: Caller, session_id: str
) -> Response[bytes]:
    try:
        body = msgspec.json.decode(await request.body(), type=SetChargingProfile)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise OcpiError(INVALID_PARAMETERS, f"charging profile: {error}") from None
    periods = [(p.start_period, p.limit) for p in body.charging_profile.charging_profile_period or []]
    if not periods or periods[0][0] != 0:
        raise OcpiError(INVALID_PARAMETERS, "charging_profile_period: at least one period, the first at 0")
    if (charging := await _active(db, caller, session_id)) is None:
        return answer(request, UNKNOWN_SESSION)
    limit = ChargingLimit(unit=body.charging_profile.charging_rate_unit, periods=periods, purpose="Tx",
                          stack_level=1, profile_id=1, duration_seconds=body.charging_profile.duration,
                          transaction_id=charging.transaction_id)  # fmt: skip
    command = Command("set_charging_profile", {"limit": limit, "evse": charging.ocpp_evse_id,
                                               "connector": charging.ocpp_evse_id})  # fmt: skip
    return _relay(request, state, caller, charging, command, body.response_url)


@delete(ROUTE, dependencies=REGISTERED, status_code=200)
async def clear_profile(
    request: Request[Any, Any, Any], state: State, db: AsyncSession, caller: Caller, session_id: str,
    response_url: str,
) -> Response[bytes]:  # fmt: skip
    if (charging := await _active(db, caller, session_id)) is None:
        return answer(request, UNKNOWN_SESSION)
    return _relay(request, state, caller, charging, Command("clear_charging_profile", {"profile_id": 1}), response_url)


@get(ROUTE, dependencies=REGISTERED)
async def active_profile(
    request: Request[Any, Any, Any], state: State, db: AsyncSession, caller: Caller, session_id: str,
    duration: int, response_url: str,
) -> Response[bytes]:  # fmt: skip
    if (charging := await _active(db, caller, session_id)) is None:
        return answer(request, UNKNOWN_SESSION)

    def with_schedule(result: CommandResult) -> dict[str, Any]:
        outcome = _plain(result)
        schedule = (result.response or {}).get("chargingSchedule") or (result.response or {}).get("schedule")
        if result.accepted and isinstance(schedule, dict):
            periods = [{"start_period": p.get("startPeriod", 0), "limit": p.get("limit", 0)}
                       for p in schedule.get("chargingSchedulePeriod", [])]  # fmt: skip
            outcome["profile"] = {"start_date_time": schedule.get("startSchedule"), "charging_profile": {
                "charging_rate_unit": schedule.get("chargingRateUnit", "W"), "charging_profile_period": periods}}  # fmt: skip
        return outcome

    command = Command("get_composite_schedule", {"evse": charging.ocpp_evse_id, "connector": charging.ocpp_evse_id,
                                                 "duration": duration})  # fmt: skip
    return _relay(request, state, caller, charging, command, response_url, with_schedule)


HUB_ROUTE = "/2.2.1/hubclientinfo/{country_code:str}/{party_id:str}"
CONFIGURED = {"caller": Provide(provide_configured_caller)}


@put(HUB_ROUTE, dependencies=CONFIGURED)
async def put_client_info(
    request: Request[Any, Any, Any], db: AsyncSession, caller: Caller, country_code: str, party_id: str
) -> Response[bytes]:
    """A hub tells us the state of a party behind it (configuration module: no routing headers)."""
    try:
        info = msgspec.json.decode(await request.body(), type=ClientInfo)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise OcpiError(INVALID_PARAMETERS, f"client info: {error}") from None
    if (info.country_code.upper(), info.party_id.upper()) != (country_code.upper(), party_id.upper()):
        raise OcpiError(INVALID_PARAMETERS, "country_code and party_id must match the URL")
    if info.last_updated.tzinfo is None:
        raise OcpiError(INVALID_PARAMETERS, "last_updated: a UTC time (ending in Z)")
    async with db.begin():
        partner = await roaming.get_partner(db, caller.partner.tenant_id, caller.partner.id)
        clients = dict(partner.hub_clients or {})
        clients[f"{country_code.upper()}{party_id.upper()}"] = msgspec.json.decode(msgspec.json.encode(info))
        partner.hub_clients = clients
    return answer(request)


@get(HUB_ROUTE, dependencies=CONFIGURED)
async def get_client_info(
    request: Request[Any, Any, Any], db: AsyncSession, caller: Caller, country_code: str, party_id: str
) -> Response[bytes]:
    async with db.begin():
        partner = await roaming.get_partner(db, caller.partner.tenant_id, caller.partner.id)
    found = (partner.hub_clients or {}).get(f"{country_code.upper()}{party_id.upper()}")
    if found is None:
        raise OcpiError(INVALID_PARAMETERS, f"no client info for {country_code}/{party_id}", 404)
    return answer(request, found)


HANDLERS = [set_profile, clear_profile, active_profile, put_client_info, get_client_info]
