from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cpo.db.base import Base, TenantScoped, Timestamps, UUIDPrimaryKey

PERSON_KINDS = ("employee", "visitor", "external")
PERSON_STATUSES = ("active", "inactive", "blocked")
GROUP_KINDS = ("department", "cost_centre", "customer_project")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Group(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A department, cost centre or customer project: for access rules and cost allocation."""

    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "kind", "name"),
        CheckConstraint(_in("kind", GROUP_KINDS), name="kind"),
    )

    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(50))
    """The accounting code, e.g. a cost centre number."""
    external_id: Mapped[str | None] = mapped_column(String(255))
    """The identifier an HR system gave it (SCIM externalId)."""


class Person(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """Someone who charges: an employee, a visitor or an external (customer)."""

    __tablename__ = "people"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "user_name"),
        Index("ix_people_email", "tenant_id", "email"),
        CheckConstraint(_in("kind", PERSON_KINDS), name="kind"),
        CheckConstraint(_in("status", PERSON_STATUSES), name="status"),
        ForeignKeyConstraint(
            ["tenant_id", "department_id"], ["groups.tenant_id", "groups.id"], ondelete="SET NULL (department_id)"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "cost_centre_id"], ["groups.tenant_id", "groups.id"], ondelete="SET NULL (cost_centre_id)"
        ),
    )

    kind: Mapped[str] = mapped_column(String(20), default="employee")
    user_name: Mapped[str] = mapped_column(String(254))
    """Unique in the tenant; the SCIM userName (usually the e-mail address)."""
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    """Stored in lower case."""
    language: Mapped[str] = mapped_column(String(5), default="nl")
    status: Mapped[str] = mapped_column(String(10), default="active")
    external_id: Mapped[str | None] = mapped_column(String(255))
    department_id: Mapped[uuid.UUID | None]
    cost_centre_id: Mapped[uuid.UUID | None]
    deprovisioned_at: Mapped[datetime | None]
    """Deleted through SCIM: inactive, and gone for the identity provider; records stay."""
    erased_at: Mapped[datetime | None]
    """Set once personal data was erased (GDPR Art. 17); the row stays as the anchor of kept records."""


class GroupMember(TenantScoped, Base):
    __tablename__ = "group_members"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "group_id"], ["groups.tenant_id", "groups.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "person_id"], ["people.tenant_id", "people.id"], ondelete="CASCADE"),
        Index("ix_group_members_person", "person_id"),
    )

    group_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
