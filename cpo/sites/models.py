from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cpo.db.base import Base, TenantScoped, Timestamps, UUIDPrimaryKey, utcnow

# Children reference their parent by (tenant_id, id), so the database itself refuses a station of
# tenant A on a site of tenant B, whatever the code above it does.


class Site(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    __tablename__ = "sites"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        # what roaming partners page through: published sites (not homes), oldest change first
        Index(
            "ix_sites_published",
            "tenant_id",
            "changed_at",
            "id",
            postgresql_where=text("publish AND home_person_id IS NULL"),
        ),
    )

    name: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(45))
    city: Mapped[str] = mapped_column(String(45))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    state: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(3))
    latitude: Mapped[Decimal] = mapped_column(Numeric(10, 7))
    longitude: Mapped[Decimal] = mapped_column(Numeric(10, 7))
    time_zone: Mapped[str] = mapped_column(String(64))
    # OCPI Hours object: {"twentyfourseven": bool, "regular_hours": [...], "exceptional_*": [...]}
    opening_times: Mapped[dict[str, Any]] = mapped_column(JSONB, default=lambda: {"twentyfourseven": True})
    publish: Mapped[bool] = mapped_column(default=False)
    currency: Mapped[str] = mapped_column(String(3), default="EUR", server_default="EUR")
    """ISO 4217: what this site's tariffs charge in."""
    home_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    """An employee's home: sessions here are home charging, reimbursed by the employer."""
    facilities: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list, server_default="{}")
    """OCPI Facility values: what is nearby (HOTEL, SUPERMARKET, WIFI, ...)."""
    parking_type: Mapped[str | None] = mapped_column(String(20))
    energy_mix: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """OCPI EnergyMix of the electricity supplied here."""
    changed_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    """When the site, one of its stations, EVSEs or connectors, or a public EVSE's status last changed: what a
    roaming partner's ``date_from`` and a location's ``last_updated`` go by."""


class Station(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    __tablename__ = "stations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"], ondelete="RESTRICT"),
        CheckConstraint("security_profile BETWEEN 1 AND 3", name="security_profile"),
        CheckConstraint("registration_status IN ('Pending', 'Accepted', 'Rejected')", name="registration_status"),
        Index("ix_stations_tenant_site", "tenant_id", "site_id"),
    )

    site_id: Mapped[uuid.UUID]
    # The charge point identity of the OCPP URL (/ocpp/{identity}): unique across the platform.
    identity: Mapped[str] = mapped_column(String(48), unique=True)
    vendor: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(50))
    serial_number: Mapped[str | None] = mapped_column(String(50))
    firmware_version: Mapped[str | None] = mapped_column(String(50))
    security_profile: Mapped[int] = mapped_column(Integer, default=1)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    registration_status: Mapped[str] = mapped_column(String(16), default="Accepted")


class Evse(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    __tablename__ = "evses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("station_id", "ocpp_evse_id"),
        UniqueConstraint("tenant_id", "uid"),
        ForeignKeyConstraint(["tenant_id", "station_id"], ["stations.tenant_id", "stations.id"], ondelete="CASCADE"),
        CheckConstraint("ocpp_evse_id >= 1", name="ocpp_evse_id"),
        Index("ix_evses_tenant_station", "tenant_id", "station_id"),
    )

    station_id: Mapped[uuid.UUID]
    # The EVSE's number on its station: OCPP 2.0.1 evseId, OCPP 1.6 connectorId.
    ocpp_evse_id: Mapped[int] = mapped_column(Integer)
    # OCPI EVSE.uid: unique within the operator, never reused.
    uid: Mapped[str] = mapped_column(String(36))
    # eMI3 EVSE ID, e.g. BE*ABC*E0001 (OCPI EVSE.evse_id); unique across the platform when set.
    evse_id: Mapped[str | None] = mapped_column(String(48), unique=True)
    capabilities: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list, server_default="{}")
    public: Mapped[bool] = mapped_column(default=False)
    floor_level: Mapped[str | None] = mapped_column(String(4))
    physical_reference: Mapped[str | None] = mapped_column(String(16))


class Connector(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    __tablename__ = "connectors"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("evse_id", "ocpp_connector_id"),
        ForeignKeyConstraint(["tenant_id", "evse_id"], ["evses.tenant_id", "evses.id"], ondelete="CASCADE"),
        CheckConstraint("ocpp_connector_id >= 1", name="ocpp_connector_id"),
        CheckConstraint("max_voltage > 0 AND max_amperage > 0", name="positive_ratings"),
        Index("ix_connectors_tenant_evse", "tenant_id", "evse_id"),
    )

    evse_id: Mapped[uuid.UUID]
    # The connector's number within its EVSE (OCPP 2.0.1 connectorId).
    ocpp_connector_id: Mapped[int] = mapped_column(Integer)
    standard: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(6))
    power_type: Mapped[str] = mapped_column(String(20))
    max_voltage: Mapped[int] = mapped_column(Integer)
    max_amperage: Mapped[int] = mapped_column(Integer)
    max_electric_power: Mapped[int | None] = mapped_column(Integer)
    terms_and_conditions: Mapped[str | None] = mapped_column(String(255))
