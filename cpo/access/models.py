from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from cpo.db.base import Base, TenantScoped, Timestamps, UUIDPrimaryKey

BADGE_STATUSES = ("active", "blocked", "expired")


class Badge(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """An RFID card or other token (OCPP IdToken) that may start charging, usually held by a person."""

    __tablename__ = "badges"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        # One card, one badge: the key is the same for every way a reader reports the UID.
        UniqueConstraint("tenant_id", "uid_key"),
        CheckConstraint("status IN ('active', 'blocked', 'expired')", name="status"),
        ForeignKeyConstraint(
            ["tenant_id", "person_id"], ["people.tenant_id", "people.id"], ondelete="SET NULL (person_id)"
        ),
        Index("ix_badges_person", "person_id"),
        Index("ix_badges_group_uid", "tenant_id", "group_uid"),
    )

    uid: Mapped[str] = mapped_column(String(36))
    """As entered, tidied (``canonical_uid``); sent to stations in local lists."""
    uid_key: Mapped[str] = mapped_column(String(36))
    token_type: Mapped[str] = mapped_column(String(20), default="ISO14443")
    status: Mapped[str] = mapped_column(String(10), default="active")
    person_id: Mapped[uuid.UUID | None]
    valid_from: Mapped[datetime | None]
    valid_to: Mapped[datetime | None]
    group_uid: Mapped[str | None] = mapped_column(String(36))
    """OCPP 1.6 parentIdTag / 2.0.1 groupIdToken: badges sharing it count as one for "one at a time"."""
    label: Mapped[str | None] = mapped_column(String(100))


class AccessRule(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """Where, when and how much a person, or every member of a group, may charge."""

    __tablename__ = "access_rules"
    __table_args__ = (
        CheckConstraint("(person_id IS NULL) <> (group_id IS NULL)", name="one_subject"),
        ForeignKeyConstraint(["tenant_id", "person_id"], ["people.tenant_id", "people.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "group_id"], ["groups.tenant_id", "groups.id"], ondelete="CASCADE"),
        Index("ix_access_rules_person", "person_id"),
        Index("ix_access_rules_group", "group_id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[uuid.UUID | None]
    group_id: Mapped[uuid.UUID | None]
    site_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid))
    """None: every site of the tenant."""
    evse_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid))
    windows: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    """Weekly hours as text, e.g. ``mon-fri 07:00-19:00`` (see ``rules.Window.parse``); empty: any time."""
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    monthly_kwh_quota: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))


class LocalListEntry(TenantScoped, Base):
    """What a station holds in its local authorization list, as far as we have told it (OCPP 1.6 §5.15)."""

    __tablename__ = "local_list_entries"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "station_id"], ["stations.tenant_id", "stations.id"], ondelete="CASCADE"),
    )

    station_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[datetime | None]
    group_uid: Mapped[str | None] = mapped_column(String(36))
