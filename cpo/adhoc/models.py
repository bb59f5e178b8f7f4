"""An ad-hoc card payment for one charging session, and the processor events already handled."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKeyConstraint, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from cpo.db.base import Base, TenantScoped, Timestamps, UUIDPrimaryKey, utcnow

STATUSES = ("created", "authorized", "starting", "charging", "ended", "captured", "cancelled", "failed")
"""created: waiting for the card; authorized: the hold is on the card; starting: the station was asked to
start; charging: its session runs; ended: the session ended, the amount not yet taken; captured: taken;
cancelled: the hold released, nothing taken (``settled_at`` is set once the processor confirmed it: until then
the release is retried); failed: no hold could be made."""
REFUND_STATUSES = ("pending", "done", "failed")
OPEN = ("created", "authorized", "starting", "charging", "ended")


class AdHocPayment(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    __tablename__ = "adhoc_payments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "evse_id"], ["evses.tenant_id", "evses.id"], ondelete="RESTRICT"),
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint("hold_minor > 0 AND captured_minor >= 0 AND refunded_minor >= 0", name="amounts"),
        CheckConstraint("refunded_minor <= captured_minor", name="refund_at_most_captured"),
        Index("ix_adhoc_payments_open", "status", postgresql_where=f"status IN {OPEN}"),
        Index("ix_adhoc_payments_unsettled", "status", postgresql_where="settled_at IS NULL"),
    )

    evse_id: Mapped[uuid.UUID]
    station_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(12), default="created")
    currency: Mapped[str] = mapped_column(String(3))
    hold_minor: Mapped[int] = mapped_column(BigInteger)
    """What is held on the card, in minor units (cents)."""
    intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    """The card processor's id for the hold (a Stripe PaymentIntent)."""
    own_account: Mapped[bool] = mapped_column(default=False, server_default="false")
    """Held on the tenant's own processor account (else the platform's): it is settled on the same one."""
    view_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """The driver's link to this payment's pages (no account): only its hash is kept."""
    id_tag: Mapped[str] = mapped_column(String(20), unique=True)
    """The token the station is started with, so its session is known as this payment's."""
    locale: Mapped[str] = mapped_column(String(2), default="en")
    email: Mapped[str | None] = mapped_column(String(255))
    """Only when the driver wants the receipt by e-mail; forgotten once it is sent."""
    receipt_sent_at: Mapped[datetime | None]
    session_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    final_minor: Mapped[int | None] = mapped_column(BigInteger)
    """What the session cost (its CDR, VAT included)."""
    captured_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str | None] = mapped_column(String(255))
    """Why it was refused, cancelled or stopped, for the driver."""
    authorized_at: Mapped[datetime | None]
    start_requested_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    hold_expires_at: Mapped[datetime | None]
    """When the processor drops an uncaptured hold (Stripe: 7 days after creation for online card payments)."""


class ProcessorEvent(Base):
    """A webhook event handled once: processors resend, and in any order."""

    __tablename__ = "payment_processor_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(80))
    intent_id: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)


class AdHocRefund(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A refund of (part of) what a card payment took. Its id is the request's own (the form's), so a request
    sent twice refunds once; a pending one is retried with the same processor key until the processor answers."""

    __tablename__ = "adhoc_refunds"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "payment_id"], ["adhoc_payments.tenant_id", "adhoc_payments.id"], ondelete="RESTRICT"
        ),
        CheckConstraint(f"status IN {REFUND_STATUSES}", name="status"),
        CheckConstraint("amount_minor > 0", name="amount"),
        Index("ix_adhoc_refunds_pending", "status", postgresql_where="status = 'pending'"),
    )

    payment_id: Mapped[uuid.UUID] = mapped_column(index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    requested_by: Mapped[str | None] = mapped_column(String(255))
    processor_ref: Mapped[str | None] = mapped_column(String(255))
    """The processor's id for the refund."""
    message: Mapped[str | None] = mapped_column(String(255))
