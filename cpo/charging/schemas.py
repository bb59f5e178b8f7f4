"""Inputs and outputs of the charging area (msgspec)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from msgspec import Struct

from cpo.charging.commands import Command, CommandResult
from cpo.charging.models import ChargingSession, ConnectorState, StationPresence


class CommandIn(Struct, forbid_unknown_fields=True):
    name: Literal[
        "remote_start", "remote_stop", "unlock_connector", "reset", "change_availability", "get_configuration",
        "change_configuration", "trigger_message", "set_charging_profile", "clear_charging_profile",
        "get_composite_schedule", "send_local_list", "get_local_list_version", "update_firmware", "get_diagnostics",
    ]  # fmt: skip
    arguments: dict[str, Any] = {}

    def command(self) -> Command:
        return Command(self.name, dict(self.arguments))


class CommandOut(Struct):
    status: str
    accepted: bool
    response: dict[str, Any] | None
    error: str | None
    command_id: uuid.UUID | None


class ConnectorStateOut(Struct):
    evse: int
    connector: int
    status: str
    error_code: str | None
    status_at: datetime


class StationStatusOut(Struct):
    station_id: uuid.UUID
    online: bool
    ocpp_version: str | None
    last_seen: datetime | None
    connected_at: datetime | None
    connectors: list[ConnectorStateOut]


class SessionOut(Struct):
    id: uuid.UUID
    station_id: uuid.UUID
    transaction_id: str
    ocpp_version: str
    evse: int | None
    connector: int | None
    id_tag: str | None
    authorization: str | None
    status: str
    started_at: datetime
    stopped_at: datetime | None
    meter_start_wh: Decimal | None
    meter_stop_wh: Decimal | None
    energy_wh: Decimal
    power_w: Decimal | None
    soc_percent: Decimal | None
    stop_reason: str | None
    auth_reason: str | None = None
    person_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    cost_centre_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    session_class: str | None = None
    """internal, visitor, ad_hoc, roaming or home: fixed at the start."""
    payer: str | None = None
    """cost_centre, driver, emsp or employer."""
    pricing: str = "pending"
    """pending, priced (its CDR is issued) or review (it cannot be priced: see pricing_note)."""
    pricing_note: str | None = None


class AllocationIn(Struct, forbid_unknown_fields=True):
    project_id: uuid.UUID | None
    """A customer project (group of that kind) whose account the session's cost goes to; None: none."""


def command_out(result: CommandResult) -> CommandOut:
    return CommandOut(result.status, result.accepted, result.response, result.error, result.command_id)


def session_out(s: ChargingSession) -> SessionOut:
    return SessionOut(
        id=s.id, station_id=s.station_id, transaction_id=s.transaction_id, ocpp_version=s.ocpp_version,
        evse=s.ocpp_evse_id, connector=s.ocpp_connector_id, id_tag=s.id_tag, authorization=s.authorization,
        status=s.status, started_at=s.started_at, stopped_at=s.stopped_at, meter_start_wh=s.meter_start_wh,
        meter_stop_wh=s.meter_stop_wh, energy_wh=s.energy_wh, power_w=s.power_w, soc_percent=s.soc_percent,
        stop_reason=s.stop_reason, auth_reason=s.auth_reason, person_id=s.person_id, department_id=s.department_id,
        cost_centre_id=s.cost_centre_id, project_id=s.project_id, session_class=s.session_class, payer=s.payer,
        pricing=s.pricing or "pending", pricing_note=s.pricing_note,
    )  # fmt: skip


def station_status_out(
    station_id: uuid.UUID, where: StationPresence | None, states: list[ConnectorState]
) -> StationStatusOut:
    return StationStatusOut(
        station_id=station_id,
        online=bool(where and where.online),
        ocpp_version=where.ocpp_version if where else None,
        last_seen=where.last_seen if where else None,
        connected_at=where.connected_at if where else None,
        connectors=[
            ConnectorStateOut(s.ocpp_evse_id, s.ocpp_connector_id, s.status, s.error_code, s.status_at) for s in states
        ],
    )
