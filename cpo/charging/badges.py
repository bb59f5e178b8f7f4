"""Badges and the one authorization decision every start goes through (it grows into access rules later)."""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.charging.models import Badge
from cpo.errors import InvalidInput

AuthorizationStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]
_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def canonical_uid(uid: str) -> str:
    """Readers differ in case and separators for the same card: one form for storage and matching."""
    cleaned = uid.strip().replace(":", "").replace("-", "").replace(" ", "")
    return cleaned.upper() if _HEX.match(cleaned) else uid.strip()


@dataclass(frozen=True, slots=True)
class Authorization:
    status: AuthorizationStatus
    badge_id: uuid.UUID | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


async def authorize(session: AsyncSession, tenant_id: uuid.UUID, id_tag: str | None) -> Authorization:
    """May this token charge here now? Unknown tokens are Invalid; blocked badges are Blocked."""
    if not id_tag:
        return Authorization("Invalid")
    badge = (
        await session.execute(select(Badge).where(Badge.tenant_id == tenant_id, Badge.uid == canonical_uid(id_tag)))
    ).scalar_one_or_none()
    if badge is None:
        return Authorization("Invalid")
    if badge.status == "blocked":
        return Authorization("Blocked", badge.id)
    return Authorization("Accepted", badge.id)


async def add_badge(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    uid: str,
    user_email: str | None = None,
    status: str = "valid",
    flush: bool = True,
) -> Badge:
    badge = Badge(id=uuid.uuid4(), tenant_id=tenant_id, uid=canonical_uid(uid), user_email=user_email, status=status)
    session.add(badge)
    if flush:
        await session.flush()
    return badge


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


async def import_badges(session: AsyncSession, tenant_id: uuid.UUID, text: str) -> ImportReport:
    """Load badges from CSV (columns ``uid`` and optional ``user_email``, ``status``); upserts by uid."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "uid" not in reader.fieldnames:
        raise InvalidInput("file", "a CSV with a header line naming at least the column 'uid'")
    for line, row in enumerate(reader, start=2):
        uid = canonical_uid(row.get("uid") or "")
        status = (row.get("status") or "valid").strip().lower()
        email = (row.get("user_email") or "").strip() or None
        if not uid or len(uid) > 36:
            report.refused.append((line, "uid is empty or longer than 36 characters"))
            continue
        if status not in ("valid", "blocked"):
            report.refused.append((line, "status must be valid or blocked"))
            continue
        if email is not None and "@" not in email:
            report.refused.append((line, "user_email is not an e-mail address"))
            continue
        inserted: Any = await session.execute(
            insert(Badge)
            .values(id=uuid.uuid4(), tenant_id=tenant_id, uid=uid, status=status, user_email=email)
            .on_conflict_do_update(
                index_elements=["tenant_id", "uid"],
                set_={"status": status, "user_email": email, "updated_at": func.now()},
            )
            # xmax is 0 on a row this statement inserted, and set on one it updated.
            .returning(literal_column("xmax = 0"))
        )
        (report.created if inserted.scalar_one() else report.updated).append(uid)
    return report


async def list_badges(session: AsyncSession, tenant_id: uuid.UUID) -> list[Badge]:
    query = select(Badge).where(Badge.tenant_id == tenant_id).order_by(Badge.uid)
    return list((await session.execute(query)).scalars())
