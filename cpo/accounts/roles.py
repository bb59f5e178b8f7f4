"""Roles and what each may do; pure rules, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Literal

from cpo.errors import Forbidden

Role = Literal["platform_admin", "tenant_admin", "read_only"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, and on behalf of which tenant."""

    tenant_id: uuid.UUID
    role: Role
    actor: str
    """``account:<id>`` or ``token:<id>``: for audit, never personal data."""

    @property
    def can_write(self) -> bool:
        return self.role in ("platform_admin", "tenant_admin")

    @property
    def is_platform_admin(self) -> bool:
        return self.role == "platform_admin"

    def require_write(self) -> None:
        if not self.can_write:
            raise Forbidden("this role may read but not change anything")

    def require_platform_admin(self) -> None:
        if not self.is_platform_admin:
            raise Forbidden("only a platform administrator may do this")

    def acting_for(self, tenant_id: uuid.UUID) -> Principal:
        """A platform administrator may act within any tenant; nobody else may leave their own."""
        if tenant_id != self.tenant_id:
            self.require_platform_admin()
        return replace(self, tenant_id=tenant_id)
