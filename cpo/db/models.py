"""Imports every model so the metadata is complete (migrations, autogenerate, tests)."""

from cpo.access.models import AccessRule, Badge, LocalListEntry
from cpo.accounts.models import Account, ApiToken, LoginSession
from cpo.adhoc.models import AdHocPayment, AdHocRefund, ProcessorEvent
from cpo.audit.models import AuditEntry
from cpo.charging.models import (
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
from cpo.people.models import Group, GroupMember, Person
from cpo.roaming.models import RoamingDelivery, RoamingPartner, RoamingReservation, RoamingToken
from cpo.sites.models import Connector, Evse, Site, Station
from cpo.tariffs.models import Cdr, CdrCounter, Tariff, TariffAssignment, TariffVersion
from cpo.tenants.models import Tenant

__all__ = [
    "AccessRule",
    "Account",
    "AdHocPayment",
    "AdHocRefund",
    "ApiToken",
    "AuditEntry",
    "Badge",
    "Base",
    "Cdr",
    "CdrCounter",
    "ChargingSession",
    "Connector",
    "ConnectorState",
    "Evse",
    "Group",
    "GroupMember",
    "LocalListEntry",
    "LoginSession",
    "MeterSample",
    "Node",
    "OutboxEvent",
    "Person",
    "ProcessorEvent",
    "RoamingDelivery",
    "RoamingPartner",
    "RoamingReservation",
    "RoamingToken",
    "Site",
    "Station",
    "StationCommand",
    "StationEvent",
    "StationPresence",
    "StatusEvent",
    "Tariff",
    "TariffAssignment",
    "TariffVersion",
    "Tenant",
]  # fmt: skip
