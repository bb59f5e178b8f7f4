"""Roaming partners and the tokens their drivers use, as the OCPI module stores them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cpo.db.base import Base, TenantScoped, Timestamps, UUIDPrimaryKey, utcnow

PARTNER_STATUSES = ("invited", "registered", "closed")


class RoamingPartner(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """An eMSP or hub connected (or being connected) over OCPI, with the credentials each side holds."""

    __tablename__ = "roaming_partners"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint("status IN ('invited', 'registered', 'closed')", name="status"),
        Index(
            "uq_roaming_partners_party",
            "tenant_id",
            "country_code",
            "party_id",
            unique=True,
            postgresql_where="status = 'registered'",
        ),
    )

    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default="invited")
    country_code: Mapped[str | None] = mapped_column(String(2))
    party_id: Mapped[str | None] = mapped_column(String(3))
    roles: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    """The partner's CredentialsRoles (role, business details, party)."""
    versions_url: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(10))
    endpoints: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    """Their endpoints of the version in use: ``{"locations:RECEIVER": url, ...}``."""
    our_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the token they call us with (a Token A while invited, then the credentials token)."""
    our_token_sealed: Mapped[str] = mapped_column(Text)
    their_token_sealed: Mapped[str | None] = mapped_column(Text)
    """The token we call them with, encrypted."""
    plain_tokens: Mapped[bool] = mapped_column(default=False)
    """Peers that send and expect tokens as they are, not base64 encoded (OCPI 2.1.1 habit)."""
    last_contact_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    hub_clients: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    """For a hub: the parties behind it and their state (OCPI ClientInfo by ``CCPID``)."""


class RoamingParty(TenantScoped, Base):
    """A party (country code and party id) a partner may act for, fixed by an admin at the invitation or by its
    first registration. One partner per party and tenant, for good: a closed partner keeps its parties, so
    nobody else can register as it later and see its sessions."""

    __tablename__ = "roaming_parties"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "country_code", "party_id"),
        ForeignKeyConstraint(
            ["tenant_id", "partner_id"], ["roaming_partners.tenant_id", "roaming_partners.id"], ondelete="CASCADE"
        ),
        Index("ix_roaming_parties_partner", "partner_id"),
    )

    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    partner_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)


class RoamingToken(TenantScoped, Base):
    """A driver's token a partner pushed to us (OCPI Token), honoured at our stations as its whitelist says."""

    __tablename__ = "roaming_tokens"
    __table_args__ = (
        # per partner: the same uid pushed by two partners is two tokens, neither overwriting the other
        Index(
            "uq_roaming_tokens_partner_token",
            "tenant_id",
            "partner_id",
            "country_code",
            "party_id",
            "uid",
            "type",
            unique=True,
        ),
        ForeignKeyConstraint(
            ["tenant_id", "partner_id"], ["roaming_partners.tenant_id", "roaming_partners.id"], ondelete="CASCADE"
        ),
        Index("ix_roaming_tokens_uid", "tenant_id", "uid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    partner_id: Mapped[uuid.UUID]
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    uid: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(20))
    contract_id: Mapped[str] = mapped_column(String(36))
    valid: Mapped[bool]
    whitelist: Mapped[str] = mapped_column(String(20))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """The whole OCPI Token as received."""
    last_updated: Mapped[datetime]


class RoamingDelivery(TenantScoped, Base):
    """A CDR (or other one-off object) a partner has accepted: never sent to them twice."""

    __tablename__ = "roaming_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "partner_id"], ["roaming_partners.tenant_id", "roaming_partners.id"], ondelete="CASCADE"
        ),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    object_id: Mapped[str] = mapped_column(String(39), primary_key=True)
    delivered_at: Mapped[datetime]
    location: Mapped[str | None] = mapped_column(String(500))
    """Where the partner keeps it (the Location header of their answer to our POST)."""


class RoamingReservation(TenantScoped, Base):
    """A reservation a partner made (OCPI RESERVE_NOW). The station is given our own id, never the partner's:
    one partner cannot replace or cancel another's reservation."""

    __tablename__ = "roaming_reservations"
    __table_args__ = (
        UniqueConstraint("partner_id", "reservation_id"),
        ForeignKeyConstraint(
            ["tenant_id", "partner_id"], ["roaming_partners.tenant_id", "roaming_partners.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "station_id"], ["stations.tenant_id", "stations.id"], ondelete="CASCADE"),
        CheckConstraint("status IN ('requested', 'active', 'refused', 'cancelled')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(always=True), primary_key=True)
    """The reservation id the station is given (OCPP reservationId: a 32-bit integer)."""
    partner_id: Mapped[uuid.UUID]
    reservation_id: Mapped[str] = mapped_column(String(36))
    """The partner's id for it, lower-cased (a CiString)."""
    station_id: Mapped[uuid.UUID]
    evse_uid: Mapped[str | None] = mapped_column(String(36))
    expires_at: Mapped[datetime]
    response_url: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(12), default="requested")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
