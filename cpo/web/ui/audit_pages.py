"""The audit log in the UI: the latest changes, and the whole log as CSV."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.audit import service
from cpo.audit.models import AuditEntry
from cpo.web.ui.session import UiUser, provide_ui_db, ui_user_needing

LATEST = 200


class AuditPages(Controller):
    path = "/audit"
    dependencies = {"user": ui_user_needing("audit.read"), "db": Provide(provide_ui_db)}

    @get("/")
    async def audit(self, db: AsyncSession, user: UiUser, entity: str | None = None) -> Template:
        query = select(AuditEntry).where(AuditEntry.tenant_id == user.principal.tenant_id)
        if entity:
            query = query.where(AuditEntry.entity == entity)
        async with db.begin():
            rows = list((await db.execute(query.order_by(AuditEntry.id.desc()).limit(LATEST))).scalars())
        return Template("audit.html", context=user.context(entries=rows, entity=entity or "", section="audit"))

    @get("/export.csv")
    async def export(self, db: AsyncSession, user: UiUser) -> Response[str]:
        async with db.begin():
            rows = await service.list_entries(db, user.principal.tenant_id, limit=1_000_000)
        return Response(service.to_csv(rows), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="audit.csv"'})  # fmt: skip
