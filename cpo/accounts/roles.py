"""Roles and what each may do; pure rules, no I/O.

A permission is ``area.read`` or ``area.write``. Areas: ``sites`` (sites, stations, EVSEs, connectors and
commands to stations), ``people`` (people, groups, badges, access rules), ``sessions``,
``tokens`` (API tokens), ``audit``, ``tariffs`` (tariffs and where they apply), ``roaming`` (OCPI partners), ``reports`` (CDRs, cost
allocation; finance may credit a CDR), ``scim`` (provisioning by an HR system) and ``self`` (one's own
sessions and badges). Site managers see and manage only their sites; employees only themselves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Literal

from cpo.errors import Forbidden

Role = Literal[
    "platform_admin", "tenant_admin", "site_manager", "hr_manager", "finance", "employee", "read_only", "scim"
]  # fmt: skip
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]

_ALL_READ = {"sites.read", "people.read", "sessions.read", "reports.read", "audit.read", "self.read", "tariffs.read",
             "roaming.read"}  # fmt: skip
PERMISSIONS: dict[str, frozenset[str]] = {
    "platform_admin": frozenset(),  # everything: see ``can``
    "tenant_admin": frozenset(),
    "site_manager": frozenset({"sites.read", "sites.write", "sessions.read", "self.read", "tariffs.read"}),
    "hr_manager": frozenset({"people.read", "people.write", "sessions.read", "sites.read", "self.read"}),
    "finance": frozenset(_ALL_READ | {"reports.write"}),
    "employee": frozenset({"self.read"}),
    "read_only": frozenset(_ALL_READ - {"audit.read"}),
    "scim": frozenset({"scim.read", "scim.write"}),
}
ROLE_CHECK = f"role IN ({', '.join(repr(r) for r in ROLES)})"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, and on behalf of which tenant."""

    tenant_id: uuid.UUID
    role: Role
    actor: str
    """``account:<id>`` or ``token:<id>``: for audit, never personal data."""
    site_ids: frozenset[uuid.UUID] | None = None
    """A site manager's sites; None for every other role."""
    person_id: uuid.UUID | None = None
    """The person an employee account belongs to."""

    @property
    def is_platform_admin(self) -> bool:
        return self.role == "platform_admin"

    def can(self, permission: str) -> bool:
        if self.role in ("platform_admin", "tenant_admin"):
            return True
        return permission in PERMISSIONS[self.role]

    def require(self, permission: str) -> None:
        if not self.can(permission):
            area, _, kind = permission.partition(".")
            verb = "see" if kind == "read" else "change"
            raise Forbidden(f"the role {self.role} may not {verb} {area}")

    def require_platform_admin(self) -> None:
        if not self.is_platform_admin:
            raise Forbidden("only a platform administrator may do this")

    def acting_for(self, tenant_id: uuid.UUID) -> Principal:
        """A platform administrator may act within any tenant; nobody else may leave their own."""
        if tenant_id != self.tenant_id:
            self.require_platform_admin()
        return replace(self, tenant_id=tenant_id)
