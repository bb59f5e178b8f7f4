"""Tenant use cases."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.db.queries import flush_or_conflict
from cpo.errors import InvalidInput, NotFound
from cpo.outbox.service import emit
from cpo.tenants.models import Tenant

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


async def find_tenant(session: AsyncSession, slug: str) -> Tenant:
    tenant = (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none()
    if tenant is None:
        raise NotFound("tenant", slug)
    return tenant


async def find_tenant_by_slug_or_name(session: AsyncSession, key: str) -> Tenant:
    """The tenant with this slug, else the one with this name (any case): what a person types."""
    try:
        return await find_tenant(session, key)
    except NotFound:
        rows = (await session.execute(select(Tenant).where(func.lower(Tenant.name) == key.lower()))).scalars().all()
        if len(rows) != 1:
            raise NotFound("tenant", key) from None
        return rows[0]


async def get_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant", tenant_id)
    return tenant


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    return list((await session.execute(select(Tenant).order_by(Tenant.slug))).scalars())


async def create_tenant(
    session: AsyncSession, slug: str, name: str, country_code: str | None = None, party_id: str | None = None
) -> Tenant:
    if not SLUG.match(slug):
        raise InvalidInput("slug", "lower-case letters, digits and '-', starting with a letter or digit")
    tenant = Tenant(slug=slug, name=name, country_code=country_code, party_id=party_id)
    session.add(tenant)
    await flush_or_conflict(session, {"uq_tenants_slug": ("slug", f"a tenant {slug!r} exists already")})
    await emit(session, "tenant.created", {"id": tenant.id, "slug": slug}, tenant.id)
    return tenant


async def ensure_tenant(session: AsyncSession, slug: str) -> Tenant:
    """The tenant with this slug, created on the first start (the default tenant)."""
    # Several nodes may start at once: insert-if-absent, then read whichever row won.
    if not SLUG.match(slug):
        raise InvalidInput("slug", "lower-case letters, digits and '-', starting with a letter or digit")
    inserted = await session.execute(
        insert(Tenant)
        .values(id=uuid.uuid4(), slug=slug, name=slug.replace("-", " ").title(), auto_register_stations=False)
        .on_conflict_do_nothing(index_elements=["slug"])
        .returning(Tenant.id)
    )
    new_id = inserted.scalar_one_or_none()
    if new_id is not None:
        await emit(session, "tenant.created", {"id": new_id, "slug": slug}, new_id)
    return await find_tenant(session, slug)
