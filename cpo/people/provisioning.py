"""Provisioning by an HR system or identity provider (SCIM): people and groups created, changed, removed."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.db.base import utcnow
from cpo.outbox.service import emit
from cpo.people import service
from cpo.people.models import Group, GroupMember, Person
from cpo.people.schemas import GroupIn, PersonIn
from cpo.people.scim import GroupChange, GroupFields, ScimError, UserFields, UserView

USER_FILTERS = {"username": "user_name", "externalid": "external_id", "emails.value": "email", "emails": "email"}
GROUP_FILTERS = {"displayname": "name", "externalid": "external_id"}


def _not_found(kind: str, key: object) -> ScimError:
    return ScimError(404, f"{kind} {key} not found")


async def _person(session: AsyncSession, tenant_id: uuid.UUID, person_id: str) -> Person:
    try:
        key = uuid.UUID(person_id)
    except ValueError:
        raise _not_found("User", person_id) from None
    person = await session.get(Person, key)
    if person is None or person.tenant_id != tenant_id or person.deprovisioned_at is not None:
        raise _not_found("User", person_id)
    return person


async def _group(session: AsyncSession, tenant_id: uuid.UUID, group_id: str) -> Group:
    try:
        key = uuid.UUID(group_id)
    except ValueError:
        raise _not_found("Group", group_id) from None
    group = await session.get(Group, key)
    if group is None or group.tenant_id != tenant_id:
        raise _not_found("Group", group_id)
    return group


async def user_view(session: AsyncSession, person: Person) -> UserView:
    groups = (
        await session.execute(
            select(Group.id, Group.name)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.person_id == person.id)
            .order_by(Group.name)
        )
    ).all()
    names = {
        g.id: g.name
        for g in (
            await session.execute(
                select(Group).where(Group.id.in_([i for i in (person.department_id, person.cost_centre_id) if i]))
            )
        ).scalars()
    }
    return UserView(
        id=person.id, user_name=person.user_name, name=person.name, email=person.email,
        active=person.status == "active", external_id=person.external_id, language=person.language,
        kind=person.kind, department=names.get(person.department_id) if person.department_id else None,
        cost_centre=names.get(person.cost_centre_id) if person.cost_centre_id else None,
        groups=[(g.id, g.name) for g in groups], created=person.created_at, modified=person.updated_at,
    )  # fmt: skip


async def list_users(
    session: AsyncSession, tenant_id: uuid.UUID, where: tuple[str, str] | None, start: int, count: int
) -> tuple[int, list[UserView]]:
    query = select(Person).where(Person.tenant_id == tenant_id, Person.deprovisioned_at.is_(None))
    if where is not None:
        column, value = where
        # RFC 7643: userName is case-insensitive.
        attribute = getattr(Person, column)
        query = query.where(
            func.lower(attribute) == value.lower() if column in ("user_name", "email") else attribute == value
        )
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = (
        await session.execute(query.order_by(Person.created_at, Person.id).offset(start - 1).limit(count))
    ).scalars()
    return total, [await user_view(session, p) for p in rows]


async def get_user(session: AsyncSession, tenant_id: uuid.UUID, person_id: str) -> UserView:
    return await user_view(session, await _person(session, tenant_id, person_id))


async def _group_named(session: AsyncSession, tenant_id: uuid.UUID, kind: str, name: str | None) -> uuid.UUID | None:
    if not name:
        return None
    group = await service.find_group(session, tenant_id, kind, name[:200])
    if group is None:
        group = await service.create_group(session, tenant_id, GroupIn(kind=kind, name=name[:200]))  # type: ignore[arg-type]
    return group.id


async def _person_in(
    session: AsyncSession, tenant_id: uuid.UUID, fields: UserFields, person: Person | None
) -> PersonIn:
    if person is not None and person.status == "blocked":
        status = "blocked"  # our own sanction: the identity provider's "active" does not lift it
    else:
        status = "active" if fields.active else "inactive"
    groups = await service.group_ids_of(session, person.id) if person is not None else []
    return PersonIn(
        name=fields.name[:200], kind=fields.kind, email=fields.email, user_name=fields.user_name,  # type: ignore[arg-type]
        language=fields.language if fields.language in ("nl", "en") else (person.language if person else "nl"),  # type: ignore[arg-type]
        status=status, external_id=fields.external_id,  # type: ignore[arg-type]
        department_id=await _group_named(session, tenant_id, "department", fields.department),
        cost_centre_id=await _group_named(session, tenant_id, "cost_centre", fields.cost_centre),
        group_ids=groups,
    )  # fmt: skip


async def _unique_user_name(session: AsyncSession, tenant_id: uuid.UUID, user_name: str, own: uuid.UUID | None) -> None:
    clash = await session.scalar(
        select(Person.id).where(Person.tenant_id == tenant_id, func.lower(Person.user_name) == user_name.lower())
    )
    if clash is not None and clash != own:
        raise ScimError(409, f"userName {user_name} is taken", "uniqueness")


async def create_user(session: AsyncSession, tenant_id: uuid.UUID, fields: UserFields) -> UserView:
    await _unique_user_name(session, tenant_id, fields.user_name, None)
    person = await service.create_person(session, tenant_id, await _person_in(session, tenant_id, fields, None))
    return await user_view(session, person)


async def replace_user(session: AsyncSession, tenant_id: uuid.UUID, person_id: str, fields: UserFields) -> UserView:
    person = await _person(session, tenant_id, person_id)
    await _unique_user_name(session, tenant_id, fields.user_name, person.id)
    data = await _person_in(session, tenant_id, fields, person)
    person = await service.update_person(session, tenant_id, person.id, data)
    return await user_view(session, person)


def fields_of(view: UserView) -> UserFields:
    return UserFields(
        user_name=view.user_name, name=view.name, email=view.email, active=view.active,
        external_id=view.external_id, language=view.language, kind=view.kind, department=view.department,
        cost_centre=view.cost_centre,
    )  # fmt: skip


async def deprovision_user(session: AsyncSession, tenant_id: uuid.UUID, person_id: str) -> None:
    """SCIM DELETE: the person is gone for the identity provider, inactive here; records stay."""
    person = await _person(session, tenant_id, person_id)
    person.status = "inactive" if person.status != "blocked" else person.status
    person.deprovisioned_at = utcnow()
    await session.flush()
    await emit(session, "person.updated", {"id": person.id, "deprovisioned": True}, tenant_id)


# --- groups ----------------------------------------------------------------------------------------------------


async def group_members(session: AsyncSession, group_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    rows = await session.execute(
        select(Person.id, Person.name)
        .join(GroupMember, GroupMember.person_id == Person.id)
        .where(GroupMember.group_id == group_id, Person.deprovisioned_at.is_(None))
        .order_by(Person.name)
    )
    return [(r.id, r.name) for r in rows]


async def list_groups(
    session: AsyncSession, tenant_id: uuid.UUID, where: tuple[str, str] | None, start: int, count: int
) -> tuple[int, list[tuple[Group, list[tuple[uuid.UUID, str]]]]]:
    query = select(Group).where(Group.tenant_id == tenant_id)
    if where is not None:
        query = query.where(getattr(Group, where[0]) == where[1])
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = (await session.execute(query.order_by(Group.created_at, Group.id).offset(start - 1).limit(count))).scalars()
    return total, [(g, await group_members(session, g.id)) for g in rows]


async def get_group(
    session: AsyncSession, tenant_id: uuid.UUID, group_id: str
) -> tuple[Group, list[tuple[uuid.UUID, str]]]:
    group = await _group(session, tenant_id, group_id)
    return group, await group_members(session, group.id)


async def _set_members(session: AsyncSession, group: Group, add: list[uuid.UUID], remove: list[uuid.UUID]) -> None:
    if add:
        known = set(
            (
                await session.execute(select(Person.id).where(Person.tenant_id == group.tenant_id, Person.id.in_(add)))
            ).scalars()
        )
        if missing := set(add) - known:
            raise ScimError(400, f"no such User: {', '.join(sorted(map(str, missing)))}", "invalidValue")
        present = set(
            (await session.execute(select(GroupMember.person_id).where(GroupMember.group_id == group.id))).scalars()
        )
        session.add_all(
            GroupMember(tenant_id=group.tenant_id, group_id=group.id, person_id=p) for p in sorted(set(add) - present)
        )
    if remove:
        await session.execute(
            delete(GroupMember).where(GroupMember.group_id == group.id, GroupMember.person_id.in_(remove))
        )
    await session.flush()
    for person_id in {*add, *remove}:
        await emit(session, "person.updated", {"id": person_id, "groups": True}, group.tenant_id)


async def create_group(session: AsyncSession, tenant_id: uuid.UUID, fields: GroupFields) -> Group:
    if await service.find_group(session, tenant_id, "department", fields.display_name) is not None:
        raise ScimError(409, f"group {fields.display_name} exists", "uniqueness")
    group = await service.create_group(
        session, tenant_id, GroupIn(kind="department", name=fields.display_name, external_id=fields.external_id)
    )
    await _set_members(session, group, fields.member_ids or [], [])
    return group


async def replace_group(session: AsyncSession, tenant_id: uuid.UUID, group_id: str, fields: GroupFields) -> Group:
    group = await _group(session, tenant_id, group_id)
    group.name, group.external_id = fields.display_name, fields.external_id
    current = [p for p, _ in await group_members(session, group.id)]
    wanted = fields.member_ids or []
    await _set_members(session, group, [p for p in wanted if p not in current], [p for p in current if p not in wanted])
    return group


async def patch_group(session: AsyncSession, tenant_id: uuid.UUID, group_id: str, change: GroupChange) -> Group:
    group = await _group(session, tenant_id, group_id)
    if change.display_name:
        group.name = change.display_name[:200]
    if change.replace_members is not None:
        current = [p for p, _ in await group_members(session, group.id)]
        await _set_members(session, group, [p for p in change.replace_members if p not in current],
                           [p for p in current if p not in change.replace_members])  # fmt: skip
    await _set_members(session, group, change.add, change.remove)
    return group


async def delete_group(session: AsyncSession, tenant_id: uuid.UUID, group_id: str) -> None:
    group = await _group(session, tenant_id, group_id)
    members: list[Any] = [p for p, _ in await group_members(session, group.id)]
    await session.delete(group)
    await session.flush()
    for person_id in members:
        await emit(session, "person.updated", {"id": person_id, "groups": True}, tenant_id)
