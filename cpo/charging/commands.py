"""The port through which the core commands stations; the OCPP gateway implements it for both versions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

CommandStatus = Literal["answered", "rejected", "offline", "timeout", "error"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What came of a command: the station's answer, or why there is none."""

    status: CommandStatus
    response: dict[str, Any] | None = None
    error: str | None = None
    command_id: uuid.UUID | None = None

    @property
    def accepted(self) -> bool:
        """The station answered, and its answer's status (when it has one) says yes: Accepted, or Unlocked for
        an UnlockConnector (the one command whose success has another name, in 1.6 and 2.0.1)."""
        if self.status != "answered" or self.response is None:
            return False
        return self.response.get("status", "Accepted") in ("Accepted", "Unlocked")


@dataclass(frozen=True, slots=True)
class ChargingLimit:
    """A power or current limit schedule, in the version-neutral form the gateway translates."""

    unit: Literal["A", "W"]
    periods: list[tuple[int, float]]
    """(seconds from the start, limit) pairs; the first starts at 0."""
    purpose: Literal["ChargePointMax", "TxDefault", "Tx"] = "TxDefault"
    stack_level: int = 0
    profile_id: int = 1
    number_phases: int | None = None
    duration_seconds: int | None = None
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class LocalListEntry:
    id_tag: str
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"


@dataclass(frozen=True, slots=True)
class Command:
    """One command to one station. ``name`` is the version-neutral verb; ``arguments`` its inputs."""

    name: Literal[
        "remote_start", "remote_stop", "unlock_connector", "reset", "change_availability", "get_configuration",
        "change_configuration", "trigger_message", "set_charging_profile", "clear_charging_profile",
        "get_composite_schedule", "send_local_list", "get_local_list_version", "update_firmware", "get_diagnostics",
        "raw",
    ]  # fmt: skip
    arguments: dict[str, Any] = field(default_factory=dict)


class ChargerCommands(Protocol):
    """Send a command to a station, wherever in the cluster its connection lives."""

    async def send(self, station_id: uuid.UUID, command: Command, requested_by: str | None = None) -> CommandResult:
        """The station's answer, or offline / timeout / error; never raises for station-side trouble."""
        ...
