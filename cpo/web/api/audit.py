"""The audit log over the admin API: read it, export it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.params import Parameter
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.roles import Principal
from cpo.audit import service
from cpo.audit.models import AuditEntry
from cpo.web.deps import guarded


class AuditEntryOut(Struct):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def entry_out(e: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(e.id, e.at, e.actor, e.action, e.entity, e.entity_id, e.before, e.after)


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]
    dependencies = {"principal": guarded("audit")}

    @get("/")
    async def list_audit(
        self, db: AsyncSession, principal: Principal, entity: str | None = None, entity_id: str | None = None,
        actor: str | None = None, since: datetime | None = None, until: datetime | None = None,
        after_id: int | None = None, limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> list[AuditEntryOut]:  # fmt: skip
        """Changes by admins and integrations, oldest first; page on with ``after_id``."""
        async with db.begin():
            rows = await service.list_entries(
                db, principal.tenant_id, entity, entity_id, actor, since, until, limit, after_id
            )
        return [entry_out(e) for e in rows]

    @get("/export.csv", media_type="text/csv")
    async def export_audit(
        self, db: AsyncSession, principal: Principal, since: datetime | None = None, until: datetime | None = None
    ) -> Response[str]:
        """The log between two moments as CSV (before and after as JSON in their columns)."""
        async with db.begin():
            rows = await service.list_entries(db, principal.tenant_id, since=since, until=until, limit=1_000_000)
        return Response(
            service.to_csv(rows), media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
        )  # fmt: skip
