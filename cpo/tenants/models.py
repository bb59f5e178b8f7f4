from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cpo.db.base import Base, Timestamps, UUIDPrimaryKey


class Tenant(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("payment_hold_minor > 0", name="payment_hold"),)

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # OCPI party identity (ISO 3166-1 alpha-2 country code + 3-character party id), e.g. BE + ABC.
    country_code: Mapped[str | None] = mapped_column(String(2))
    party_id: Mapped[str | None] = mapped_column(String(3))
    auto_register_stations: Mapped[bool] = mapped_column(default=False)
    """Unknown stations that present the enrolment secret join this tenant as Pending (see ``enrolment_secret_hash``)."""
    enrolment_secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    """SHA-256 of the secret a station presents as its Basic-auth password to register itself here."""
    station_identity_prefix: Mapped[str | None] = mapped_column(String(48), unique=True)
    """Granted by a platform administrator: identities starting with it are this tenant's alone."""
    one_session_per_badge: Mapped[bool] = mapped_column(default=False, server_default="false")
    """A badge (or a group of badges sharing a group token) may run one session at a time."""
    meter_sample_retention_days: Mapped[int | None]
    """Raw meter samples of finished sessions older than this are purged (None: kept)."""
    event_retention_days: Mapped[int | None]
    """Station events, status history and command records older than this are purged (None: kept)."""
    pseudonym_key: Mapped[str | None] = mapped_column(String(64))
    """Key of the keyed hashes that replace erased personal data (GDPR Art. 4(5) pseudonymisation)."""
    operator_details: Mapped[str | None] = mapped_column(String(500))
    """Who the operator is on receipts: legal name, address, VAT number, how to reach them (free text)."""
    payment_hold_minor: Mapped[int | None] = mapped_column(BigInteger)
    """What a card payment at the charger holds, in minor units (None: ``CPO_PAYMENT_HOLD_MINOR``)."""
    stripe_secret_sealed: Mapped[str | None] = mapped_column(Text)
    """The tenant's own Stripe account (secret key, encrypted at rest); None: the platform's account."""
    stripe_publishable_key: Mapped[str | None] = mapped_column(String(255))
    stripe_webhook_secret_sealed: Mapped[str | None] = mapped_column(Text)
