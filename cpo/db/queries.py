"""Small query helpers shared by the areas: tenant-scoped fetch, constraint violations as domain errors."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.errors import Conflict, NotFound

M = TypeVar("M")
Lock = Literal["parent", "delete"]


async def get_scoped(
    session: AsyncSession,
    model: type[M],
    tenant_id: uuid.UUID,
    id_: uuid.UUID,
    kind: str,
    lock: Lock | None = None,
) -> M:
    """The row of this tenant with this id; another tenant's row is as absent as a missing one.

    ``lock="parent"`` (FOR KEY SHARE) keeps the row from being deleted while a child is added to it;
    ``lock="delete"`` (FOR UPDATE) waits for such additions before deciding whether it may go.
    """
    query = select(model).where(model.tenant_id == tenant_id, model.id == id_)  # type: ignore[attr-defined]
    if lock == "parent":
        query = query.with_for_update(read=True, key_share=True)
    elif lock == "delete":
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFound(kind, id_)
    return row


def constraint_of(error: IntegrityError) -> str | None:
    cause: Any = getattr(error.orig, "__cause__", None)
    name = getattr(cause, "constraint_name", None)
    return name if isinstance(name, str) else None


async def flush_or_conflict(session: AsyncSession, conflicts: Mapping[str, tuple[str, str]]) -> None:
    """Flush; a unique violation named in ``conflicts`` becomes ``Conflict(message, field)``."""
    try:
        await session.flush()
    except IntegrityError as error:
        name = constraint_of(error)
        if name is not None and name in conflicts:
            field, message = conflicts[name]
            raise Conflict(message, field) from None
        raise
