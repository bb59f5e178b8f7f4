"""Writing events: in the caller's transaction, so an event exists exactly when its change does."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.outbox.models import OutboxEvent

CHANNEL = "cpo_outbox"


async def emit(session: AsyncSession, topic: str, payload: Any, tenant_id: uuid.UUID | None = None) -> None:
    """Record an event for the dispatcher; NOTIFY is delivered by PostgreSQL only if the transaction commits."""
    session.add(OutboxEvent(tenant_id=tenant_id, topic=topic, payload=msgspec.to_builtins(payload)))
    await session.execute(text(f"NOTIFY {CHANNEL}"))
