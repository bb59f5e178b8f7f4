"""Reading the audit log: filtered lists and a CSV export for auditors."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.audit.models import AuditEntry
from cpo.csv_cells import csv_text


async def list_entries(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    after_id: int | None = None,
) -> list[AuditEntry]:
    """Oldest first; page with ``after_id`` (the last id of the previous page)."""
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    for column, value in ((AuditEntry.entity, entity), (AuditEntry.entity_id, entity_id), (AuditEntry.actor, actor)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if after_id is not None:
        query = query.where(AuditEntry.id > after_id)
    return list((await session.execute(query.order_by(AuditEntry.id).limit(limit))).scalars())


def to_csv(entries: list[AuditEntry]) -> str:
    header = ["id", "at", "actor", "action", "entity", "entity_id", "before", "after"]
    return csv_text(header, ([e.id, e.at.isoformat(), e.actor, e.action, e.entity, e.entity_id,
                              json.dumps(e.before, sort_keys=True) if e.before is not None else "",
                              json.dumps(e.after, sort_keys=True) if e.after is not None else ""]
                             for e in entries))  # fmt: skip
