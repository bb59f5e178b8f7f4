"""People CSV import: what it may change about a person who is already there."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.people import service
from cpo.people.imports import import_people
from cpo.people.schemas import PersonIn
from cpo.tenants.service import ensure_tenant

HEADER = "name,email,status\n"


async def _blocked_person(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        tenant = await ensure_tenant(session, "default")
        data = PersonIn(name="Bea Blocked", email="bea@example.com", user_name="bea@example.com", status="blocked")
        await service.create_person(session, tenant.id, data)


async def _status_after_import(sessions: async_sessionmaker[AsyncSession], line: str) -> str:
    async with sessions() as session, session.begin():
        tenant = await ensure_tenant(session, "default")
        report = await import_people(session, tenant.id, HEADER + line, dry_run=False)
        assert not report.refused
    async with sessions() as session:
        person = await service.find_person(session, tenant.id, "bea@example.com")
        assert person is not None
        return person.status


@pytest.mark.parametrize("status", ["", "active", "inactive"])
async def test_a_people_import_never_lifts_a_block(sessions: async_sessionmaker[AsyncSession], status: str) -> None:
    await _blocked_person(sessions)
    assert await _status_after_import(sessions, f"Bea Blocked,bea@example.com,{status}\n") == "blocked"


async def test_an_empty_status_cell_keeps_an_inactive_person_inactive(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        tenant = await ensure_tenant(session, "default")
        data = PersonIn(name="Ida Idle", email="bea@example.com", user_name="bea@example.com", status="inactive")
        await service.create_person(session, tenant.id, data)
    assert await _status_after_import(sessions, "Ida Idle,bea@example.com,\n") == "inactive"


async def test_a_people_import_may_block_and_a_new_person_is_active_by_default(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        tenant = await ensure_tenant(session, "default")
        data = PersonIn(name="Bea", email="bea@example.com", user_name="bea@example.com")
        await service.create_person(session, tenant.id, data)
    assert await _status_after_import(sessions, "Bea,bea@example.com,blocked\n") == "blocked"
    async with sessions() as session, session.begin():
        tenant = await ensure_tenant(session, "default")
        await import_people(session, tenant.id, HEADER + "Nina New,nina@example.com,\n", dry_run=False)
    async with sessions() as session:
        person = await service.find_person(session, tenant.id, "nina@example.com")
        assert person is not None and person.status == "active"
