"""Tariffs with their versions, who they apply to, and CDRs (immutable, numbered per tenant)."""

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
    Index,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cpo.db.base import Base, TenantScoped, Timestamps, UUIDPrimaryKey

AUDIENCES = ("public", "ad_hoc", "internal", "visitor", "roaming", "home")
"""Whom an assignment prices: drivers in general, QR/card payers, employees at work, visitors, an eMSP's
drivers, and employees charging at home."""
SESSION_CLASSES = ("internal", "visitor", "ad_hoc", "roaming", "home")
PAYERS = ("cost_centre", "driver", "emsp", "employer")
"""Who a session is billed to: the company's cost centre (or project), the driver (card, invoice), the
roaming partner, or the employer (reimbursing home charging)."""


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Tariff(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A named tariff in one currency; what it charges lives in its versions."""

    __tablename__ = "tariffs"
    __table_args__ = (UniqueConstraint("tenant_id", "id"), UniqueConstraint("tenant_id", "code"))

    code: Mapped[str] = mapped_column(String(36))
    """The OCPI Tariff.id (unique per tenant, never changed)."""
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    archived: Mapped[bool] = mapped_column(default=False)


class TariffVersion(UUIDPrimaryKey, TenantScoped, Base):
    """What a tariff charges from a moment on, until the next version. A session keeps the version it
    started with. ``body`` is the OCPI 2.2.1 Tariff without id, currency, party and dates."""

    __tablename__ = "tariff_versions"
    __table_args__ = (
        UniqueConstraint("tariff_id", "valid_from"),
        ForeignKeyConstraint(["tenant_id", "tariff_id"], ["tariffs.tenant_id", "tariffs.id"], ondelete="CASCADE"),
    )

    tariff_id: Mapped[uuid.UUID]
    valid_from: Mapped[datetime]
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))


class TariffAssignment(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A tariff for an audience at a place: the whole tenant, a site, an EVSE or a connector (the most
    specific wins), optionally only for a group (internal and visitor rates) or one roaming partner."""

    __tablename__ = "tariff_assignments"
    __table_args__ = (
        CheckConstraint(_in("audience", AUDIENCES), name="audience"),
        CheckConstraint("num_nonnulls(site_id, evse_id, connector_id) <= 1", name="one_place"),
        ForeignKeyConstraint(["tenant_id", "tariff_id"], ["tariffs.tenant_id", "tariffs.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "group_id"], ["groups.tenant_id", "groups.id"], ondelete="CASCADE"),
        Index(
            "uq_tariff_assignments_place",
            "tenant_id",
            "audience",
            text("coalesce(site_id, evse_id, connector_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
            text("coalesce(group_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
            text("coalesce(partner, '')"),
            unique=True,
        ),
    )

    tariff_id: Mapped[uuid.UUID]
    audience: Mapped[str] = mapped_column(String(10))
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    evse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("evses.id", ondelete="CASCADE"))
    connector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    group_id: Mapped[uuid.UUID | None]
    partner: Mapped[str | None] = mapped_column(String(6))
    """A roaming partner as country code and party id, e.g. ``NLTNM``; none: every partner."""


class CdrCounter(Base):
    """The last CDR number of a tenant: numbers are handed out in the issuing transaction, without gaps."""

    __tablename__ = "cdr_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


class Cdr(UUIDPrimaryKey, TenantScoped, Base):
    """A charge detail record: the priced, sealed record of a finished session. Never changed (a trigger
    refuses it); a correction is a credit CDR that references it, then a new CDR."""

    __tablename__ = "cdrs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("tenant_id", "ocpi_id"),
        CheckConstraint(_in("session_class", SESSION_CLASSES), name="session_class"),
        CheckConstraint(_in("payer", PAYERS), name="payer"),
        CheckConstraint("credit = (credit_of IS NOT NULL)", name="credit_reference"),
        Index("ix_cdrs_session", "session_id"),
        Index("ix_cdrs_tenant_ended", "tenant_id", "end_date_time"),
    )

    number: Mapped[int] = mapped_column(BigInteger)
    ocpi_id: Mapped[str] = mapped_column(String(39))
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("charging_sessions.id", ondelete="SET NULL"))
    credit: Mapped[bool] = mapped_column(default=False)
    credit_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cdrs.id", ondelete="RESTRICT"))
    session_class: Mapped[str] = mapped_column(String(10))
    payer: Mapped[str] = mapped_column(String(12))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    cost_centre_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    project_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    partner: Mapped[str | None] = mapped_column(String(6))
    payment_ref: Mapped[str | None] = mapped_column(String(255))
    """A session paid by card at the charger: the card processor's payment (a Stripe PaymentIntent id)."""
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    tariff_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tariff_versions.id", ondelete="SET NULL"))
    currency: Mapped[str] = mapped_column(String(3))
    start_date_time: Mapped[datetime]
    end_date_time: Mapped[datetime]
    total_energy_kwh: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    total_time_h: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    total_parking_time_h: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    total_excl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    total_incl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    energy_excl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    energy_incl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    time_excl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    time_incl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    parking_excl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    parking_incl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    fixed_excl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    fixed_incl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    reservation_excl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    reservation_incl: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    tariff: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """The OCPI tariff as it stood when the session started."""
    charging_periods: Mapped[list[Any]] = mapped_column(JSONB)
    cdr_location: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cdr_token: Mapped[dict[str, Any]] = mapped_column(JSONB)
    auth_method: Mapped[str] = mapped_column(String(20))
    signed_data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """Signed meter values carried through verbatim (OCPI SignedData)."""
    meter_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
