from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Numeric,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cpo.db.base import Base, TenantScoped, Timestamps, UUIDPrimaryKey

# OCPP 1.6 transaction ids are integers the CSMS hands out; one sequence for the whole platform.
OCPP16_TRANSACTION_IDS = Sequence("ocpp16_transaction_id_seq", start=1, metadata=Base.metadata)


def _station_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant_id", "station_id"], ["stations.tenant_id", "stations.id"], ondelete="CASCADE")


class Node(Base):
    """A running platform process; others see it alive while ``last_seen`` is fresh."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen: Mapped[datetime] = mapped_column(server_default=func.now())
    hostname: Mapped[str] = mapped_column(String(255), default="")


class StationPresence(TenantScoped, Base):
    """The connection registry: whether a station is online, and which node holds its websocket."""

    __tablename__ = "station_presence"
    __table_args__ = (_station_fk(), Index("ix_station_presence_node", "node_id"))

    station_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    online: Mapped[bool] = mapped_column(default=False)
    node_id: Mapped[str | None] = mapped_column(String(40))
    # Bumped on every connect: a late disconnect of a replaced socket must not mark the new one offline.
    connection_id: Mapped[uuid.UUID | None]
    ocpp_version: Mapped[str | None] = mapped_column(String(8))
    connected_at: Mapped[datetime | None]
    disconnected_at: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    boot_at: Mapped[datetime | None]
    local_list_version: Mapped[int | None] = mapped_column(Integer)
    """The version of the local authorization list the station last accepted from us."""
    local_list_synced_at: Mapped[datetime | None]


class ConnectorState(TenantScoped, Base):
    """Latest status per station (0/0), EVSE (n/0) or connector (n/m), as the station reported it."""

    __tablename__ = "connector_states"
    __table_args__ = (_station_fk(),)

    station_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    ocpp_evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ocpp_connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(50))
    info: Mapped[str | None] = mapped_column(String(255))
    status_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StatusEvent(TenantScoped, Base):
    """Every status report, kept as history."""

    __tablename__ = "status_events"
    __table_args__ = (_station_fk(), Index("ix_status_events_station_time", "station_id", "status_at"))

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    station_id: Mapped[uuid.UUID]
    ocpp_evse_id: Mapped[int] = mapped_column(Integer)
    ocpp_connector_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(50))
    info: Mapped[str | None] = mapped_column(String(255))
    status_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ChargingSession(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """One transaction of one station: from start to stop, with its energy."""

    __tablename__ = "charging_sessions"
    __table_args__ = (
        _station_fk(),
        UniqueConstraint("station_id", "transaction_id"),
        # OCPP 1.6 chargers resend StartTransaction; the same start is the same session.
        UniqueConstraint("station_id", "start_key"),
        Index("ix_charging_sessions_active", "tenant_id", "station_id", postgresql_where=text("status = 'active'")),
        Index("ix_charging_sessions_tenant_started", "tenant_id", "started_at"),
        # refused: the start was denied; kept (the station may go on and send its stop) but never active.
        CheckConstraint("status IN ('active', 'completed', 'refused')", name="status"),
        ForeignKeyConstraint(
            ["tenant_id", "person_id"], ["people.tenant_id", "people.id"], ondelete="SET NULL (person_id)"
        ),
        Index("ix_charging_sessions_person_started", "person_id", "started_at"),
        Index("ix_charging_sessions_badge_active", "badge_id", postgresql_where=text("status = 'active'")),
    )

    station_id: Mapped[uuid.UUID]
    ocpp_version: Mapped[str] = mapped_column(String(8))
    # 2.0.1: the station's transactionId; 1.6: the integer we assigned, as text.
    transaction_id: Mapped[str] = mapped_column(String(36))
    ocpp16_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    start_key: Mapped[str | None] = mapped_column(String(200))
    ocpp_evse_id: Mapped[int | None] = mapped_column(Integer)
    ocpp_connector_id: Mapped[int | None] = mapped_column(Integer)
    evse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("evses.id", ondelete="SET NULL"))
    id_tag: Mapped[str | None] = mapped_column(String(36))
    id_token_type: Mapped[str | None] = mapped_column(String(20))
    badge_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("badges.id", ondelete="SET NULL"))
    authorization: Mapped[str | None] = mapped_column(String(20))
    auth_reason: Mapped[str | None] = mapped_column(String(30))
    """Why the access decision allowed or denied the start (``rules.Reason``)."""
    person_id: Mapped[uuid.UUID | None]
    # Cost allocation, fixed at the start: the person's department and cost centre then, or a project.
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    cost_centre_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    project_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default="active")
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    meter_start_wh: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    meter_stop_wh: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    energy_wh: Mapped[Decimal] = mapped_column(Numeric(14, 3), default=Decimal(0))
    power_w: Mapped[Decimal | None] = mapped_column(Numeric(12, 1))
    soc_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    last_seq_no: Mapped[int | None] = mapped_column(Integer)
    offline: Mapped[bool] = mapped_column(default=False)
    charging_state: Mapped[str | None] = mapped_column(String(20))
    state_changes: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")
    """OCPP 2.0.1 chargingState as it changed: ``[[at, state], ...]`` (charging or parked, for pricing)."""
    # Billing, fixed at the start: the class of use, who pays, and the tariff version in force then.
    session_class: Mapped[str | None] = mapped_column(String(10))
    payer: Mapped[str | None] = mapped_column(String(12))
    partner: Mapped[str | None] = mapped_column(String(6))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("roaming_partners.id", ondelete="SET NULL"), index=True
    )
    """The roaming partner whose driver it is: what OCPI shows it by (its code above only names the party)."""
    tariff_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tariff_versions.id", ondelete="SET NULL"))
    pricing: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    """pending (running, or not yet priced), priced (its CDR is issued), review (cannot be priced: see note)."""
    pricing_note: Mapped[str | None] = mapped_column(String(255))


class MeterSample(TenantScoped, Base):
    """One sampled value, kept verbatim (signed data included) beside its parsed number."""

    __tablename__ = "meter_samples"
    __table_args__ = (
        _station_fk(),
        Index("ix_meter_samples_session_time", "session_id", "sampled_at"),
        Index("ix_meter_samples_station_time", "station_id", "sampled_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    station_id: Mapped[uuid.UUID]
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("charging_sessions.id", ondelete="CASCADE"))
    ocpp_evse_id: Mapped[int | None] = mapped_column(Integer)
    ocpp_connector_id: Mapped[int | None] = mapped_column(Integer)
    sampled_at: Mapped[datetime]
    measurand: Mapped[str] = mapped_column(String(40))
    phase: Mapped[str | None] = mapped_column(String(8))
    unit: Mapped[str | None] = mapped_column(String(12))
    location: Mapped[str | None] = mapped_column(String(8))
    context: Mapped[str | None] = mapped_column(String(24))
    value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    raw_value: Mapped[str] = mapped_column(Text)
    signed: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))


class StationEvent(TenantScoped, Base):
    """What a station told us that is not state: notifications, data transfers, odd transaction messages."""

    __tablename__ = "station_events"
    __table_args__ = (_station_fk(), Index("ix_station_events_station_time", "station_id", "received_at"))

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    station_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StationCommand(UUIDPrimaryKey, TenantScoped, Base):
    """A command sent to a station and its answer: the audit trail, and the mailbox between nodes."""

    __tablename__ = "station_commands"
    __table_args__ = (
        _station_fk(),
        Index("ix_station_commands_station_time", "station_id", "created_at"),
        CheckConstraint("status IN ('pending', 'answered', 'rejected', 'offline', 'timeout', 'error')", name="status"),
    )

    station_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(String(60))
    node_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    answered_at: Mapped[datetime | None]
