"""Badges: create, change, block, import in bulk. Every change is an outbox event stations' lists follow."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.access.models import Badge
from cpo.access.schemas import BadgeIn
from cpo.access.tokens import TOKEN_TYPES, canonical_uid, uid_key
from cpo.charging.models import ChargingSession
from cpo.db.queries import flush_or_conflict, get_scoped
from cpo.errors import InvalidInput
from cpo.outbox.service import emit
from cpo.people import service as people
from cpo.people.models import Person
from cpo.people.schemas import GroupIn, PersonIn

BADGE_CONFLICTS = {
    "uq_badges_tenant_id_uid_key": ("uid", "this card is registered already (the same UID, maybe written differently)")
}
BADGE_CHANGED = "badge.changed"


async def get_badge(session: AsyncSession, tenant_id: uuid.UUID, badge_id: uuid.UUID) -> Badge:
    return await get_scoped(session, Badge, tenant_id, badge_id, "badge")


async def _apply(session: AsyncSession, badge: Badge, data: BadgeIn) -> None:
    if data.person_id is not None:
        await people.get_person(session, badge.tenant_id, data.person_id)
    # Time zones first: a naive and an aware time cannot even be compared.
    for name in ("valid_from", "valid_to"):
        moment = getattr(data, name)
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(name, "give a time zone, e.g. 2027-01-01T00:00:00Z")
    if data.valid_from and data.valid_to and data.valid_to <= data.valid_from:
        raise InvalidInput("valid_to", "must be after valid_from")
    badge.uid, badge.uid_key, badge.token_type = canonical_uid(data.uid), uid_key(data.uid), data.token_type
    badge.status, badge.person_id, badge.label = data.status, data.person_id, data.label
    badge.valid_from, badge.valid_to = data.valid_from, data.valid_to
    badge.group_uid = canonical_uid(data.group_uid) if data.group_uid else None


async def create_badge(session: AsyncSession, tenant_id: uuid.UUID, data: BadgeIn) -> Badge:
    badge = Badge(id=uuid.uuid4(), tenant_id=tenant_id)
    await _apply(session, badge, data)
    session.add(badge)
    await flush_or_conflict(session, BADGE_CONFLICTS)
    await emit(session, BADGE_CHANGED, {"id": badge.id}, tenant_id)
    return badge


async def update_badge(session: AsyncSession, tenant_id: uuid.UUID, badge_id: uuid.UUID, data: BadgeIn) -> Badge:
    badge = await get_badge(session, tenant_id, badge_id)
    await _apply(session, badge, data)
    await flush_or_conflict(session, BADGE_CONFLICTS)
    await emit(session, BADGE_CHANGED, {"id": badge.id}, tenant_id)
    return badge


async def set_badge_status(session: AsyncSession, tenant_id: uuid.UUID, badge_id: uuid.UUID, status: str) -> Badge:
    badge = await get_badge(session, tenant_id, badge_id)
    badge.status = status
    await session.flush()
    await emit(session, BADGE_CHANGED, {"id": badge.id}, tenant_id)
    return badge


async def delete_badge(session: AsyncSession, tenant_id: uuid.UUID, badge_id: uuid.UUID) -> None:
    badge = await get_badge(session, tenant_id, badge_id)
    await session.delete(badge)
    await session.flush()
    await emit(session, BADGE_CHANGED, {"id": badge_id, "deleted": True}, tenant_id)


async def list_badges(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID | None = None) -> list[Badge]:
    query = select(Badge).where(Badge.tenant_id == tenant_id)
    if person_id is not None:
        query = query.where(Badge.person_id == person_id)
    return list((await session.execute(query.order_by(Badge.uid))).scalars())


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    people_created: list[str] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


BADGE_COLUMNS = ("uid", "token_type", "status", "user_email", "user_name", "kind", "department", "cost_centre",
                 "group_uid", "valid_from", "valid_to", "label")  # fmt: skip


async def import_badges(session: AsyncSession, tenant_id: uuid.UUID, text: str) -> ImportReport:
    """Badges from CSV, upserted by card; ``user_email`` links (and if needed creates) the holder.

    Columns: ``uid`` and optionally ``token_type``, ``status`` (active/blocked/expired; ``valid`` reads as
    active), ``user_email``, ``user_name`` (the holder's name), ``kind`` (employee/visitor/external),
    ``department``, ``cost_centre`` (group names, created when missing), ``group_uid``, ``label``.
    """
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "uid" not in reader.fieldnames:
        raise InvalidInput("file", "a CSV with a header line naming at least the column 'uid'")
    for line, row in enumerate(reader, start=2):
        cells = {key: (row.get(key) or "").strip() for key in BADGE_COLUMNS}
        try:
            async with session.begin_nested():
                created = await _import_row(session, tenant_id, cells, report)
            (report.created if created else report.updated).append(canonical_uid(cells["uid"]))
        except InvalidInput as error:
            report.refused.append((line, str(error)))
    return report


async def _import_row(session: AsyncSession, tenant_id: uuid.UUID, cells: dict[str, str], report: ImportReport) -> bool:
    uid = canonical_uid(cells["uid"])
    if not uid or len(uid) > 36:
        raise InvalidInput("uid", "empty or longer than 36 characters")
    status = {"valid": "active", "": "active"}.get(cells["status"].lower(), cells["status"].lower())
    if status not in ("active", "blocked", "expired"):
        raise InvalidInput("status", "must be active, blocked or expired")
    token_type = cells["token_type"] or "ISO14443"
    if token_type not in TOKEN_TYPES:
        raise InvalidInput("token_type", f"one of {', '.join(TOKEN_TYPES)}")
    person = await _holder(session, tenant_id, cells, report)
    existing = (
        await session.execute(select(Badge).where(Badge.tenant_id == tenant_id, Badge.uid_key == uid_key(uid)))
    ).scalar_one_or_none()
    badge = existing or Badge(id=uuid.uuid4(), tenant_id=tenant_id)
    if existing is not None and (not cells["status"] or existing.status == "blocked"):
        # An empty cell keeps the status; a block is lifted on the badge's page, never by a file.
        status = existing.status
    data = BadgeIn(
        uid=uid, token_type=token_type, status=status,  # type: ignore[arg-type]
        person_id=person.id if person else (existing.person_id if existing else None),
        group_uid=cells["group_uid"] or None, label=cells["label"] or None,
        valid_from=existing.valid_from if existing else None, valid_to=existing.valid_to if existing else None,
    )  # fmt: skip
    await _apply(session, badge, data)
    if existing is None:
        session.add(badge)
    await flush_or_conflict(session, BADGE_CONFLICTS)
    await emit(session, BADGE_CHANGED, {"id": badge.id}, tenant_id)
    return existing is None


async def _holder(
    session: AsyncSession, tenant_id: uuid.UUID, cells: dict[str, str], report: ImportReport
) -> Person | None:
    email = cells["user_email"].lower()
    if not email:
        return None
    if "@" not in email:
        raise InvalidInput("user_email", "not an e-mail address")
    kind = cells["kind"] or "employee"
    if kind not in ("employee", "visitor", "external"):
        raise InvalidInput("kind", "employee, visitor or external")
    groups: dict[str, uuid.UUID | None] = {}
    for column, group_kind in (("department", "department"), ("cost_centre", "cost_centre")):
        name = cells[column]
        group = await people.find_group(session, tenant_id, group_kind, name) if name else None
        if name and group is None:
            group = await people.create_group(session, tenant_id, GroupIn(kind=group_kind, name=name))  # type: ignore[arg-type]
        groups[column] = group.id if group else None
    person = await people.find_person(session, tenant_id, email)
    if person is None:
        data = PersonIn(name=cells["user_name"] or email.split("@")[0], kind=kind, email=email,  # type: ignore[arg-type]
                        department_id=groups["department"], cost_centre_id=groups["cost_centre"])  # fmt: skip
        person = await people.create_person(session, tenant_id, data)
        report.people_created.append(email)
        return person
    if cells["user_name"]:
        person.name = cells["user_name"]
    if cells["kind"]:
        person.kind = kind
    person.department_id = groups["department"] or person.department_id
    person.cost_centre_id = groups["cost_centre"] or person.cost_centre_id
    return person


async def running_transactions(
    session: AsyncSession, tenant_id: uuid.UUID, badge_ids: list[uuid.UUID]
) -> list[tuple[uuid.UUID, str]]:
    """(station, transaction id) of every active session these badges started: to stop them at once."""
    query = select(ChargingSession.station_id, ChargingSession.transaction_id).where(
        ChargingSession.tenant_id == tenant_id,
        ChargingSession.status == "active",
        ChargingSession.badge_id.in_(badge_ids),
    )
    return [(station_id, transaction_id) for station_id, transaction_id in await session.execute(query)]
