"""Audit capture at the one place every ORM change passes: the flush of a session that names its actor.

Transports call ``act_as(session, actor)``; from then on each insert, update and delete of an audited
model in that session writes an ``AuditEntry`` in the same transaction (so a change and its record
commit or roll back together). Secrets never enter the log.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction

from cpo.audit.models import AuditEntry

ACTOR_KEY = "cpo.actor"
SECRET_COLUMNS = {
    "password_hash",
    "token_hash",
    "totp_secret",
    "totp_pending",
    "uid_key",
    "pseudonym_key",
    "stripe_secret_sealed",
    "stripe_webhook_secret_sealed",
}
AUDITED = {
    "sites", "stations", "evses", "connectors", "people", "groups", "group_members", "badges", "access_rules",
    "accounts", "api_tokens", "tenants",
}  # fmt: skip


def act_as(session: AsyncSession, actor: str) -> None:
    session.sync_session.info[ACTOR_KEY] = actor


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _changes(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    before, after = {}, {}
    for attr in inspect(obj).attrs:
        if attr.key in SECRET_COLUMNS:
            continue
        history = attr.history
        if history.has_changes():
            before[attr.key] = _plain(history.deleted[0]) if history.deleted else None
            after[attr.key] = _plain(history.added[0]) if history.added else None
    return before, after


def _key(obj: Any) -> str:
    """The row's primary key as text (``group:person`` for a membership)."""
    return ":".join(str(getattr(obj, column.key)) for column in inspect(obj).mapper.primary_key)


@event.listens_for(Session, "before_flush")
def _record(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    actor = session.info.get(ACTOR_KEY)
    if actor is None:
        return
    entries = []
    for kind, objects in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            table = getattr(obj, "__tablename__", None)
            if table not in AUDITED:
                continue
            if kind == "create":
                before, after = None, snapshot(obj)
            elif kind == "delete":
                before, after = snapshot(obj), None
            else:
                before, after = _changes(obj)
                if not after:
                    continue
            tenant_id = getattr(obj, "tenant_id", None) or (obj.id if table == "tenants" else None)
            if tenant_id is None:
                continue
            entries.append(AuditEntry(tenant_id=tenant_id, actor=actor, action=kind, entity=table,
                                      entity_id=_key(obj)[:64], before=before, after=after))  # fmt: skip
    session.add_all(entries)


def snapshot(obj: Any) -> dict[str, Any]:
    """A row's columns as JSON values, secrets left out (for the log, and for a person's data export)."""
    mapper = inspect(obj).mapper
    return {
        column.key: _plain(getattr(obj, column.key, None))
        for column in mapper.column_attrs
        if column.key not in SECRET_COLUMNS
    }
