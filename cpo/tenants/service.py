"""Tenant use cases."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.db.queries import flush_or_conflict
from cpo.errors import InvalidInput, NotFound
from cpo.outbox.service import emit
from cpo.secrets import hash_token, new_station_password
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


# --- stations registering themselves ---------------------------------------------------------------------------

PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:*-]{1,47}$")


async def identity_reserved_elsewhere(session: AsyncSession, tenant_id: uuid.UUID, identity: str) -> bool:
    """Does ``identity`` fall under a prefix granted to another tenant? Then it is not this tenant's to take."""
    owner = await session.scalar(
        select(Tenant.id).where(
            Tenant.station_identity_prefix.is_not(None),
            func.left(literal(identity), func.length(Tenant.station_identity_prefix)) == Tenant.station_identity_prefix,
        )
    )
    return owner is not None and owner != tenant_id


def check_auto_registration(tenant: Tenant) -> None:
    """Auto-registration is only ever on with an enrolment secret: without one, anybody could register."""
    if tenant.auto_register_stations and tenant.enrolment_secret_hash is None:
        raise InvalidInput("auto_register_stations", "make an enrolment secret first: stations present it to register")


async def new_enrolment_secret(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    """A fresh secret (the old one stops working) and auto-registration on; returned in clear this once."""
    tenant = await get_tenant(session, tenant_id)
    # A station password (OCPP AuthorizationKey: 16 to 40 characters) from 144 random bits: a fast hash suffices.
    secret = new_station_password()
    tenant.enrolment_secret_hash = hash_token(secret)
    tenant.auto_register_stations = True
    await session.flush()
    await emit(session, "tenant.enrolment_secret_changed", {"id": tenant.id}, tenant.id)
    return secret


async def drop_enrolment_secret(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    tenant = await get_tenant(session, tenant_id)
    tenant.enrolment_secret_hash = None
    tenant.auto_register_stations = False
    await session.flush()
    await emit(session, "tenant.enrolment_secret_changed", {"id": tenant.id}, tenant.id)


async def grant_identity_prefix(session: AsyncSession, tenant_id: uuid.UUID, prefix: str | None) -> Tenant:
    """A platform administrator's grant: identities starting with ``prefix`` are this tenant's alone (None: none)."""
    from cpo.sites.models import Station  # sites depend on tenants, not the other way round at import time

    tenant = await get_tenant(session, tenant_id)
    if prefix is not None:
        if not PREFIX.match(prefix):
            raise InvalidInput("prefix", "2 to 48 letters, digits or . _ : * - (starting with a letter or digit)")
        # Prefixes may not nest, or an identity would belong to two tenants.
        overlapping = await session.scalar(
            select(Tenant.slug).where(
                Tenant.id != tenant_id,
                Tenant.station_identity_prefix.is_not(None),
                or_(
                    func.left(Tenant.station_identity_prefix, len(prefix)) == prefix,
                    func.left(literal(prefix), func.length(Tenant.station_identity_prefix))
                    == Tenant.station_identity_prefix,
                ),
            )
        )
        if overlapping is not None:
            raise InvalidInput("prefix", f"overlaps the prefix of tenant {overlapping}")
        taken = await session.scalar(
            select(Station.identity).where(
                Station.tenant_id != tenant_id, func.left(Station.identity, len(prefix)) == prefix
            )
        )
        if taken is not None:
            raise InvalidInput("prefix", f"another tenant already has a station under it ({taken})")
    tenant.station_identity_prefix = prefix
    await flush_or_conflict(session, {"uq_tenants_station_identity_prefix": ("prefix", "granted to another tenant")})
    await emit(session, "tenant.identity_prefix_granted", {"id": tenant.id, "prefix": prefix}, tenant.id)
    return tenant
