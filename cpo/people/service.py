"""People and groups: create, change, find; the one place that keeps memberships consistent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.db.queries import flush_or_conflict, get_scoped
from cpo.errors import InvalidInput
from cpo.outbox.service import emit
from cpo.people.models import Group, GroupMember, Person
from cpo.people.schemas import GroupIn, PersonIn

PERSON_CONFLICTS = {"uq_people_tenant_id_user_name": ("user_name", "a person with this user name exists already")}
GROUP_CONFLICTS = {"uq_groups_tenant_id_kind_name": ("name", "a group of this kind with this name exists already")}


async def get_person(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID) -> Person:
    return await get_scoped(session, Person, tenant_id, person_id, "person")


async def get_group(session: AsyncSession, tenant_id: uuid.UUID, group_id: uuid.UUID) -> Group:
    return await get_scoped(session, Group, tenant_id, group_id, "group")


async def _group_of_kind(
    session: AsyncSession, tenant_id: uuid.UUID, group_id: uuid.UUID | None, kind: str, field: str
) -> None:
    if group_id is None:
        return
    group = await session.get(Group, group_id)
    if group is None or group.tenant_id != tenant_id:
        raise InvalidInput(field, "no such group")
    if group.kind != kind:
        raise InvalidInput(field, f"that group is a {group.kind.replace('_', ' ')}, not a {kind.replace('_', ' ')}")


async def _apply(session: AsyncSession, person: Person, data: PersonIn) -> None:
    await _group_of_kind(session, person.tenant_id, data.department_id, "department", "department_id")
    await _group_of_kind(session, person.tenant_id, data.cost_centre_id, "cost_centre", "cost_centre_id")
    email = data.email.lower() if data.email else None
    user_name = data.user_name or email
    if not user_name:
        raise InvalidInput("user_name", "give a user name or an e-mail address")
    person.kind, person.name, person.email, person.user_name = data.kind, data.name, email, user_name
    person.language, person.status, person.external_id = data.language, data.status, data.external_id
    person.department_id, person.cost_centre_id = data.department_id, data.cost_centre_id


async def set_groups(session: AsyncSession, person: Person, group_ids: Sequence[uuid.UUID]) -> None:
    wanted = set(group_ids)
    if wanted:
        found = set(
            (await session.execute(select(Group.id).where(Group.tenant_id == person.tenant_id, Group.id.in_(wanted))))
            .scalars()
            .all()
        )
        if missing := wanted - found:
            raise InvalidInput("group_ids", f"no such group: {', '.join(sorted(map(str, missing)))}")
    await session.execute(delete(GroupMember).where(GroupMember.person_id == person.id))
    session.add_all(GroupMember(tenant_id=person.tenant_id, group_id=g, person_id=person.id) for g in sorted(wanted))


async def group_ids_of(session: AsyncSession, person_id: uuid.UUID) -> list[uuid.UUID]:
    query = select(GroupMember.group_id).where(GroupMember.person_id == person_id).order_by(GroupMember.group_id)
    return list((await session.execute(query)).scalars())


async def create_person(session: AsyncSession, tenant_id: uuid.UUID, data: PersonIn) -> Person:
    person = Person(id=uuid.uuid4(), tenant_id=tenant_id)
    await _apply(session, person, data)
    session.add(person)
    await flush_or_conflict(session, PERSON_CONFLICTS)
    await set_groups(session, person, data.group_ids)
    await flush_or_conflict(session, PERSON_CONFLICTS)
    await emit(session, "person.created", {"id": person.id}, tenant_id)
    return person


async def update_person(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, data: PersonIn) -> Person:
    person = await get_person(session, tenant_id, person_id)
    before = person.status
    await _apply(session, person, data)
    await set_groups(session, person, data.group_ids)
    await flush_or_conflict(session, PERSON_CONFLICTS)
    await emit(session, "person.updated", {"id": person.id, "status_before": before}, tenant_id)
    return person


async def set_person_status(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, status: str) -> Person:
    person = await get_person(session, tenant_id, person_id)
    before, person.status = person.status, status
    await session.flush()
    await emit(session, "person.updated", {"id": person.id, "status_before": before}, tenant_id)
    return person


async def list_people(session: AsyncSession, tenant_id: uuid.UUID, user_name: str | None = None) -> list[Person]:
    query = select(Person).where(Person.tenant_id == tenant_id)
    if user_name is not None:
        query = query.where(Person.user_name == user_name)
    return list((await session.execute(query.order_by(Person.name, Person.id))).scalars())


async def members_of(session: AsyncSession, tenant_id: uuid.UUID, group_id: uuid.UUID) -> list[Person]:
    """The people in a group: as their department or cost centre, or as a member."""
    listed = select(GroupMember.person_id).where(GroupMember.group_id == group_id)
    query = select(Person).where(
        Person.tenant_id == tenant_id,
        or_(Person.department_id == group_id, Person.cost_centre_id == group_id, Person.id.in_(listed)),
    )
    return list((await session.execute(query.order_by(Person.name, Person.id))).scalars())


async def find_person(session: AsyncSession, tenant_id: uuid.UUID, user_name_or_email: str) -> Person | None:
    key = user_name_or_email.strip()
    query = select(Person).where(
        Person.tenant_id == tenant_id, (Person.user_name == key) | (Person.email == key.lower())
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def create_group(session: AsyncSession, tenant_id: uuid.UUID, data: GroupIn) -> Group:
    group = Group(id=uuid.uuid4(), tenant_id=tenant_id, kind=data.kind, name=data.name, code=data.code,
                  external_id=data.external_id)  # fmt: skip
    session.add(group)
    await flush_or_conflict(session, GROUP_CONFLICTS)
    return group


async def update_group(session: AsyncSession, tenant_id: uuid.UUID, group_id: uuid.UUID, data: GroupIn) -> Group:
    group = await get_group(session, tenant_id, group_id)
    if data.kind != group.kind:
        raise InvalidInput("kind", "a group keeps its kind; create a new one instead")
    group.name, group.code, group.external_id = data.name, data.code, data.external_id
    await flush_or_conflict(session, GROUP_CONFLICTS)
    return group


async def find_group(session: AsyncSession, tenant_id: uuid.UUID, kind: str, name: str) -> Group | None:
    query = select(Group).where(Group.tenant_id == tenant_id, Group.kind == kind, Group.name == name)
    return (await session.execute(query)).scalar_one_or_none()


async def list_groups(session: AsyncSession, tenant_id: uuid.UUID, kind: str | None = None) -> list[Group]:
    query = select(Group).where(Group.tenant_id == tenant_id)
    if kind is not None:
        query = query.where(Group.kind == kind)
    return list((await session.execute(query.order_by(Group.kind, Group.name))).scalars())
