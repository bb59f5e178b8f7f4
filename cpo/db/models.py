"""Imports every model so the metadata is complete (migrations, autogenerate, tests)."""

from cpo.accounts.models import Account, ApiToken, LoginSession
from cpo.charging.models import (
    Badge,
    ChargingSession,
    ConnectorState,
    MeterSample,
    Node,
    StationCommand,
    StationEvent,
    StationPresence,
    StatusEvent,
)
from cpo.db.base import Base
from cpo.outbox.models import OutboxEvent
from cpo.sites.models import Connector, Evse, Site, Station
from cpo.tenants.models import Tenant

__all__ = [
    "Account",
    "ApiToken",
    "Badge",
    "Base",
    "ChargingSession",
    "Connector",
    "ConnectorState",
    "Evse",
    "LoginSession",
    "MeterSample",
    "Node",
    "OutboxEvent",
    "Site",
    "Station",
    "StationCommand",
    "StationEvent",
    "StationPresence",
    "StatusEvent",
    "Tenant",
]  # fmt: skip
