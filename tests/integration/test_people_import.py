"""CSV imports of people and badges: what they may change about one already there (never lift a block)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.access.badges import import_badges
from cpo.access.models import Badge
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


@pytest.mark.parametrize("status", ["", "active", "valid", "expired"])
async def test_a_badge_import_never_lifts_a_block(sessions: async_sessionmaker[AsyncSession], status: str) -> None:
    async with sessions() as session, session.begin():
        tenant = await ensure_tenant(session, "default")
        await import_badges(session, tenant.id, "uid,status\n0A1B2C3D,blocked\n")
    async with sessions() as session, session.begin():
        report = await import_badges(session, tenant.id, f"uid,status\n0a:1b:2c:3d,{status}\n")
        assert not report.refused
    async with sessions() as session:
        badge = (await session.execute(select(Badge).where(Badge.tenant_id == tenant.id))).scalar_one()
        assert badge.status == "blocked"


async def test_an_empty_badge_status_keeps_an_expired_badge_expired_and_a_new_badge_is_active(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        tenant = await ensure_tenant(session, "default")
        await import_badges(session, tenant.id, "uid,status\n0A1B2C3D,expired\n")
        await import_badges(session, tenant.id, "uid,status\n0A1B2C3D,\n0E0E0E0E,\n")
    async with sessions() as session:
        badges = (await session.execute(select(Badge.uid, Badge.status).where(Badge.tenant_id == tenant.id))).all()
        assert dict(badges) == {"0A1B2C3D": "expired", "0E0E0E0E": "active"}
