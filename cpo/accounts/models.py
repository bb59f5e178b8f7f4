from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    String,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from cpo.accounts.roles import ROLE_CHECK
from cpo.db.base import Base, TenantScoped, Timestamps, UUIDPrimaryKey, utcnow


class Account(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """Someone who signs in to the admin UI."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(ROLE_CHECK, name="role"),
        ForeignKeyConstraint(
            ["tenant_id", "person_id"], ["people.tenant_id", "people.id"], ondelete="SET NULL (person_id)"
        ),
    )

    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5), default="en")
    active: Mapped[bool] = mapped_column(default=True)
    site_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid))
    """A site manager's sites."""
    person_id: Mapped[uuid.UUID | None]
    """The person behind the account: an employee sees their own sessions and badges."""
    totp_secret: Mapped[str | None] = mapped_column(Text)
    """Secret of the second factor (RFC 6238), sealed, once the account confirmed a first code."""
    totp_pending: Mapped[str | None] = mapped_column(Text)
    """A secret being set up, not yet confirmed (sealed)."""
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    """Time step of the last code accepted: that code and older ones are spent."""


class ApiToken(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A bearer token for scripts; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(ROLE_CHECK, name="role"),)

    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    site_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid))
    prefix: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class LoginSession(UUIDPrimaryKey, TenantScoped, Base):
    """A signed-in browser; the cookie holds a secret whose SHA-256 is stored here."""

    __tablename__ = "login_sessions"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    second_factor_due: Mapped[bool] = mapped_column(default=False, server_default="false")
    """Password given, TOTP code not yet: the session opens no page but the code form."""
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class SignInFailure(Base):
    """A failed sign-in (password or second-factor code) of one account, whatever address it came from.

    Kept in the database, not in a node's memory, so that spreading guesses over the nodes counts them all.
    Keyed by the SHA-256 of the e-mail as typed (lowercased): unknown addresses count too, so the answer does
    not tell which accounts exist, and no e-mail address is stored. Platform-wide like the accounts' e-mail.
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_account_key_failed_at", "account_key", "failed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(index=True, server_default=func.now(), default=utcnow)
