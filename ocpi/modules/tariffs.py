"""Tariffs, sender interface: every tariff that applies to roaming partners' drivers, in OCPI 2.2.1."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, Response, get
from litestar.di import Provide
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.db.base import utcnow
from cpo.tariffs import render
from cpo.tariffs import service as tariffs
from cpo.tariffs.models import Tariff, TariffAssignment
from cpo.tenants.models import Tenant
from ocpi.auth import Caller, provide_registered_caller
from ocpi.envelope import answer
from ocpi.pagination import page_of

ROAMING_AUDIENCES = ("public", "roaming")


async def published_tariffs(db: AsyncSession, caller: Caller) -> list[tuple[datetime, dict[str, Any]]]:
    """The tariffs a partner's drivers may be priced with: public ones, roaming ones for every partner or
    this one; each as its version in force, oldest change first."""
    partner = caller.partner
    code = f"{partner.country_code}{partner.party_id}"
    rows = (await db.execute(select(Tariff).join(TariffAssignment, TariffAssignment.tariff_id == Tariff.id).where(
        Tariff.tenant_id == partner.tenant_id, Tariff.archived.is_(False),
        TariffAssignment.audience.in_(ROAMING_AUDIENCES),
        (TariffAssignment.partner.is_(None)) | (TariffAssignment.partner == code),
    ).distinct())).scalars().all()  # fmt: skip
    tenant = await db.get(Tenant, partner.tenant_id)
    now = utcnow()
    out = []
    for tariff in rows:
        versions = await tariffs.versions_of(db, tariff.id)
        in_force = tariffs.version_at(versions, now) or versions[0]
        later = [v.valid_from for v in versions if v.valid_from > in_force.valid_from]
        body = tariffs.ocpi_tariff(tariff, in_force, later[0] if later else None, tenant)
        out.append((in_force.created_at, render.tariff(body)))
    return sorted(out, key=lambda t: (t[0], t[1]["id"]))


@get("/2.2.1/tariffs", dependencies={"caller": Provide(provide_registered_caller)})
async def list_tariffs(request: Request[Any, Any, Any], db: AsyncSession, caller: Caller) -> Response[bytes]:
    page = page_of(request)
    async with db.begin():
        found = await published_tariffs(db, caller)
    kept = [body for updated, body in found if (page.date_from is None or updated >= page.date_from)
            and (page.date_to is None or updated < page.date_to)]  # fmt: skip
    return answer(request, kept[page.offset : page.offset + page.limit], headers=page.headers(request, len(kept)))


HANDLERS = [list_tariffs]
