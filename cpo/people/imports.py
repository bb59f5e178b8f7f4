"""People in bulk from a CSV (an HR export): what would change, line by line, before anything does."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.errors import DomainError, InvalidInput
from cpo.people import service
from cpo.people.schemas import GroupIn, PersonIn

COLUMNS = ("email", "user_name", "name", "kind", "language", "status", "department", "cost_centre", "external_id")
COMPARED = ("name", "kind", "email", "language", "status", "department_id", "cost_centre_id", "external_id")


@dataclass
class PeopleImportReport:
    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: list[tuple[str, list[str]]] = field(default_factory=list)
    """(user name, the fields that change)"""
    unchanged: list[str] = field(default_factory=list)
    groups_created: list[str] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


async def _group(
    session: AsyncSession, tenant_id: uuid.UUID, kind: str, name: str, report: PeopleImportReport
) -> uuid.UUID | None:
    if not name:
        return None
    group = await service.find_group(session, tenant_id, kind, name)
    if group is None:
        group = await service.create_group(session, tenant_id, GroupIn(kind=kind, name=name))  # type: ignore[arg-type]
        report.groups_created.append(f"{kind}: {name}")
    return group.id


async def import_people(session: AsyncSession, tenant_id: uuid.UUID, text: str, dry_run: bool) -> PeopleImportReport:
    """Columns: ``email`` or ``user_name``, ``name``; optionally ``kind``, ``language``, ``status``,
    ``department``, ``cost_centre`` (group names, created when missing), ``external_id``. Upserts by user
    name (the e-mail address when no user name is given). With ``dry_run`` nothing is kept."""
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or [])
    if "name" not in columns or not columns & {"email", "user_name"}:
        raise InvalidInput("file", "a CSV with a header naming 'name' and 'email' (or 'user_name')")
    report = PeopleImportReport(dry_run)
    everything = await session.begin_nested()
    for line, row in enumerate(reader, start=2):
        cells = {key: (row.get(key) or "").strip() for key in COLUMNS}
        try:
            async with session.begin_nested():
                await _import_row(session, tenant_id, cells, columns, report)
        except (DomainError, msgspec.ValidationError) as error:
            report.refused.append((line, str(error)))
    if dry_run:
        await everything.rollback()
    else:
        await everything.commit()
    return report


async def _import_row(
    session: AsyncSession, tenant_id: uuid.UUID, cells: dict[str, str], columns: set[str], report: PeopleImportReport
) -> None:
    user_name = cells["user_name"] or cells["email"].lower()
    if not user_name:
        raise InvalidInput("email", "give an e-mail address or a user name")
    existing = await service.find_person(session, tenant_id, user_name)
    if existing is not None:
        # A column the file does not have leaves that field as it is.
        kept = {"email": existing.email or "", "kind": existing.kind, "language": existing.language,
                "status": existing.status, "external_id": existing.external_id or ""}  # fmt: skip
        cells |= {key: value for key, value in kept.items() if key not in columns}
        # An empty cell keeps the status; a block is ours (as with SCIM): only a person's page lifts it.
        if not cells["status"] or existing.status == "blocked":
            cells["status"] = existing.status
    data = msgspec.convert(
        {
            "name": cells["name"], "email": cells["email"] or None, "user_name": user_name,
            "kind": cells["kind"] or "employee", "language": cells["language"] or "nl",
            "status": cells["status"] or "active", "external_id": cells["external_id"] or None,
            "department_id": await _group(session, tenant_id, "department", cells["department"], report),
            "cost_centre_id": await _group(session, tenant_id, "cost_centre", cells["cost_centre"], report),
        },
        PersonIn, strict=False,
    )  # fmt: skip
    if existing is None:
        await service.create_person(session, tenant_id, data)
        report.created.append(user_name)
        return
    before = {name: getattr(existing, name) for name in COMPARED}
    data.group_ids = await service.group_ids_of(session, existing.id)
    if "department" not in columns:
        data.department_id = existing.department_id
    if "cost_centre" not in columns:
        data.cost_centre_id = existing.cost_centre_id
    person = await service.update_person(session, tenant_id, existing.id, data)
    changed = [name.removesuffix("_id") for name in COMPARED if getattr(person, name) != before[name]]
    if changed:
        report.updated.append((user_name, changed))
    else:
        report.unchanged.append(user_name)
