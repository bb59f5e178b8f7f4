"""Tariffs, where they apply, CDRs, live costs and cost allocation over the admin API."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litestar import Controller, Response, delete, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from msgspec import Meta, Struct
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.roles import Principal
from cpo.charging import queries
from cpo.db.base import utcnow
from cpo.errors import InvalidInput
from cpo.tariffs import render
from cpo.tariffs import service as tariffs
from cpo.tariffs.calculator import totals
from cpo.tariffs.engine import Usage, price_session
from cpo.tariffs.models import Cdr, Tariff, TariffAssignment, TariffVersion
from cpo.tariffs.ocpi import ENCODER
from cpo.tariffs.schemas import (
    AllocationRow,
    AssignmentIn,
    AssignmentOut,
    CdrOut,
    CreditIn,
    DriverPrices,
    LiveCost,
    PriceOut,
    TariffBody,
    TariffIn,
    TariffOut,
    VersionIn,
    VersionOut,
)
from cpo.tenants.service import get_tenant
from cpo.web.deps import guarded

Month = Annotated[str, Parameter(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


def version_out(version: TariffVersion, valid_until: datetime | None) -> VersionOut:
    return VersionOut(version.id, version.valid_from, valid_until, version.body, version.created_at)


async def tariff_out(db: AsyncSession, tariff: Tariff) -> TariffOut:
    versions = await tariffs.versions_of(db, tariff.id)
    outs = [version_out(v, versions[i + 1].valid_from if i + 1 < len(versions) else None)
            for i, v in enumerate(versions)]  # fmt: skip
    return TariffOut(tariff.id, tariff.code, tariff.name, tariff.currency, tariff.archived, outs, tariff.created_at)


def assignment_out(a: TariffAssignment) -> AssignmentOut:
    return AssignmentOut(a.id, a.tariff_id, a.audience, a.site_id, a.evse_id, a.connector_id, a.group_id, a.partner)


def cdr_out(c: Cdr) -> CdrOut:
    def price(name: str) -> PriceOut:
        return PriceOut(getattr(c, f"{name}_excl"), getattr(c, f"{name}_incl"))

    return CdrOut(
        id=c.id, number=c.number, ocpi_id=c.ocpi_id, session_id=c.session_id, credit=c.credit,
        credit_of=c.credit_of, session_class=c.session_class, payer=c.payer, person_id=c.person_id,
        cost_centre_id=c.cost_centre_id, project_id=c.project_id, partner=c.partner, currency=c.currency,
        start_date_time=c.start_date_time, end_date_time=c.end_date_time, total_energy=c.total_energy_kwh,
        total_time=c.total_time_h, total_parking_time=c.total_parking_time_h, total_cost=price("total"),
        total_energy_cost=price("energy"), total_time_cost=price("time"), total_parking_cost=price("parking"),
        total_fixed_cost=price("fixed"), total_reservation_cost=price("reservation"),
        charging_periods=c.charging_periods, tariff=c.tariff, signed_data=c.signed_data, created_at=c.created_at,
        payment_ref=c.payment_ref,
    )  # fmt: skip


class PreviewIn(Struct, forbid_unknown_fields=True):
    """A session to price under a tariff body, e.g. 'a 1 h, 20 kWh session starting at 18:00'."""

    currency: Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
    body: TariffBody
    start: datetime
    """Local wall time at the site (no offset), or an aware moment."""
    charging_minutes: Annotated[int, Meta(ge=0, le=7 * 24 * 60)]
    energy_kwh: Decimal
    """0 to 10,000 (checked in ``preview``: msgspec bounds no Decimal)."""
    parking_minutes: Annotated[int, Meta(ge=0, le=7 * 24 * 60)] = 0
    time_zone: str = "Europe/Brussels"


def preview(data: PreviewIn) -> dict[str, Any]:
    """Price one evenly charged session, then parked, under the body (nothing stored)."""
    if data.energy_kwh < 0 or data.energy_kwh > 10_000:
        raise InvalidInput("energy_kwh", "a number of kWh from 0 to 10000")
    try:
        zone = ZoneInfo(data.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("time_zone", "an IANA time zone such as Europe/Brussels") from None
    compiled = tariffs.check_body("PREVIEW", data.currency, data.body)
    start = data.start if data.start.tzinfo else data.start.replace(tzinfo=zone)
    start = start.astimezone(UTC)
    middle = start + timedelta(minutes=data.charging_minutes)
    usages = [Usage(start, middle, energy_wh=data.energy_kwh * 1000, charging_s=Decimal(data.charging_minutes * 60),
                    power_kw=data.energy_kwh * 60 / data.charging_minutes if data.charging_minutes else None)]  # fmt: skip
    if data.parking_minutes:
        usages.append(Usage(middle, middle + timedelta(minutes=data.parking_minutes),
                            parking_s=Decimal(data.parking_minutes * 60)))  # fmt: skip
    return totals(price_session(compiled, usages, zone))


class TariffController(Controller):
    path = "/tariffs"
    tags = ["tariffs"]
    dependencies = {"principal": guarded("tariffs")}

    @get("/")
    async def list_tariffs(self, db: AsyncSession, principal: Principal) -> list[TariffOut]:
        async with db.begin():
            return [await tariff_out(db, t) for t in await tariffs.list_tariffs(db, principal.tenant_id)]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_tariff(self, db: AsyncSession, principal: Principal, data: TariffIn) -> TariffOut:
        """A tariff and its first version. ``body`` is the OCPI 2.2.1 Tariff's elements and limits."""
        async with db.begin():
            return await tariff_out(db, await tariffs.create_tariff(db, principal.tenant_id, data))

    @get("/{tariff_id:uuid}")
    async def get_tariff(self, db: AsyncSession, principal: Principal, tariff_id: uuid.UUID) -> TariffOut:
        async with db.begin():
            return await tariff_out(db, await tariffs.get_tariff(db, principal.tenant_id, tariff_id))

    @post("/{tariff_id:uuid}/versions", status_code=HTTP_201_CREATED)
    async def add_version(
        self, db: AsyncSession, principal: Principal, tariff_id: uuid.UUID, data: VersionIn
    ) -> TariffOut:
        """A new version from ``valid_from`` (now or later). Running sessions keep the version they started with."""
        async with db.begin():
            await tariffs.add_version(db, principal.tenant_id, tariff_id, data)
            return await tariff_out(db, await tariffs.get_tariff(db, principal.tenant_id, tariff_id))

    @post("/{tariff_id:uuid}/archive", status_code=HTTP_200_OK)
    async def archive(self, db: AsyncSession, principal: Principal, tariff_id: uuid.UUID) -> TariffOut:
        """Out of use: where it applied, it applies no more. Its versions and CDRs stay."""
        async with db.begin():
            return await tariff_out(db, await tariffs.archive_tariff(db, principal.tenant_id, tariff_id))

    @get("/{tariff_id:uuid}/ocpi")
    async def as_ocpi(
        self, db: AsyncSession, principal: Principal, tariff_id: uuid.UUID,
        version: Literal["2.2.1", "2.3.0"] = "2.2.1",
    ) -> Response[bytes]:  # fmt: skip
        """The version in force now as an OCPI Tariff (2.2.1, or 2.3.0 from the same data)."""
        async with db.begin():
            tariff = await tariffs.get_tariff(db, principal.tenant_id, tariff_id)
            versions = await tariffs.versions_of(db, tariff.id)
            now = utcnow()
            in_force = tariffs.version_at(versions, now) or versions[0]
            later = [v.valid_from for v in versions if v.valid_from > in_force.valid_from]
            tenant = await get_tenant(db, principal.tenant_id)
            body = tariffs.ocpi_tariff(tariff, in_force, later[0] if later else None, tenant)
        return Response(ENCODER.encode(render.tariff(body, version)), media_type="application/json")

    @post("/preview", status_code=HTTP_200_OK)
    async def preview(self, principal: Principal, data: PreviewIn) -> Response[bytes]:
        """What a session would cost under a tariff body, as OCPI CDR totals (numbers): nothing is stored."""
        return Response(ENCODER.encode(preview(data)), media_type="application/json")


class TariffAssignmentController(Controller):
    path = "/tariff-assignments"
    tags = ["tariffs"]
    dependencies = {"principal": guarded("tariffs")}

    @get("/")
    async def list_assignments(
        self, db: AsyncSession, principal: Principal, tariff_id: uuid.UUID | None = None
    ) -> list[AssignmentOut]:
        async with db.begin():
            return [assignment_out(a) for a in await tariffs.list_assignments(db, principal.tenant_id, tariff_id)]

    @post("/", status_code=HTTP_201_CREATED)
    async def assign(self, db: AsyncSession, principal: Principal, data: AssignmentIn) -> AssignmentOut:
        """Let a tariff price an audience at a place (tenant, site, EVSE or connector; the most specific wins)."""
        async with db.begin():
            return assignment_out(await tariffs.assign(db, principal.tenant_id, data))

    @delete("/{assignment_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def unassign(self, db: AsyncSession, principal: Principal, assignment_id: uuid.UUID) -> None:
        async with db.begin():
            await tariffs.unassign(db, principal.tenant_id, assignment_id)


class CdrController(Controller):
    path = "/cdrs"
    tags = ["billing"]
    dependencies = {"principal": guarded("reports")}

    @get("/")
    async def list_cdrs(
        self, db: AsyncSession, principal: Principal, before_number: int | None = None,
        session_class: Literal["internal", "visitor", "ad_hoc", "roaming", "home"] | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> list[CdrOut]:  # fmt: skip
        """Newest first; page with ``before_number``."""
        async with db.begin():
            return [cdr_out(c) for c in await tariffs.list_cdrs(db, principal.tenant_id, limit, before_number,
                                                                 session_class)]  # fmt: skip

    @get("/{cdr_id:uuid}")
    async def get_cdr(self, db: AsyncSession, principal: Principal, cdr_id: uuid.UUID) -> CdrOut:
        async with db.begin():
            return cdr_out(await tariffs.get_cdr(db, principal.tenant_id, cdr_id))

    @get("/{cdr_id:uuid}/ocpi")
    async def cdr_as_ocpi(
        self, db: AsyncSession, principal: Principal, cdr_id: uuid.UUID, version: Literal["2.2.1", "2.3.0"] = "2.2.1"
    ) -> Response[bytes]:
        """The CDR as OCPI sends it to a roaming partner (2.2.1, or 2.3.0 from the same data)."""
        async with db.begin():
            row = await tariffs.get_cdr(db, principal.tenant_id, cdr_id)
        return Response(ENCODER.encode(render.cdr(row, version)), media_type="application/json")

    @post("/{cdr_id:uuid}/credit", status_code=HTTP_201_CREATED)
    async def credit(self, db: AsyncSession, principal: Principal, cdr_id: uuid.UUID, data: CreditIn) -> list[CdrOut]:
        """Cancel a CDR with a credit CDR; with ``reissue``, price the session again and issue a new one."""
        async with db.begin():
            credit, reissued = await tariffs.credit_cdr(db, principal.tenant_id, cdr_id, data.reason, data.reissue)
            return [cdr_out(credit)] + ([cdr_out(reissued)] if reissued else [])


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """A calendar month in UTC: [first day 00:00, next first day 00:00)."""
    # The bounds are widened by hours for the sites' time zones and the next month must exist: the first
    # and last years of the calendar have no room for either (year 0 is none at all).
    if not "0002-01" <= month <= "9998-12":
        raise InvalidInput("month", "a month from 0002-01 to 9998-12")
    first = date.fromisoformat(f"{month}-01")
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return datetime(first.year, first.month, 1, tzinfo=UTC), datetime(following.year, following.month, 1, tzinfo=UTC)


class BillingController(Controller):
    path = "/billing"
    tags = ["billing"]
    dependencies = {"principal": guarded("reports")}

    @get("/cost-allocation")
    async def allocation(self, db: AsyncSession, principal: Principal, month: Month) -> list[AllocationRow]:
        """Internal charging of a month (each site's own wall-clock month), per customer project or else cost
        centre; credits netted."""
        start, end = month_bounds(month)
        async with db.begin():
            return await tariffs.allocation(db, principal.tenant_id, start, end)

    @get("/cost-allocation.csv", media_type="text/csv")
    async def allocation_csv(self, db: AsyncSession, principal: Principal, month: Month) -> Response[str]:
        start, end = month_bounds(month)
        async with db.begin():
            rows = await tariffs.allocation(db, principal.tenant_id, start, end)
        return Response(tariffs.allocation_csv(rows, month), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="cost-allocation-{month}.csv"'})  # fmt: skip


class SessionCostController(Controller):
    path = "/sessions"
    tags = ["billing"]
    dependencies = {"principal": guarded("sessions")}

    @get("/{session_id:uuid}/cost")
    async def live_cost(self, db: AsyncSession, principal: Principal, session_id: uuid.UUID) -> LiveCost:
        """What the session costs so far under the tariff it started with (its total, once it has ended)."""
        async with db.begin():
            charging = await queries.get_session(db, principal.tenant_id, session_id)
            _, _, pricing, note = await tariffs.price(db, charging)
            now = utcnow()
        cost = PriceOut(pricing.total.excl_vat.quantize(Decimal("0.0001")),
                        (pricing.total.incl_vat or pricing.total.excl_vat).quantize(Decimal("0.0001"))) \
            if pricing else None  # fmt: skip
        return LiveCost(charging.id, charging.session_class, charging.payer, charging.pricing, note or charging.pricing_note,
                        pricing.currency if pricing else None, cost, charging.energy_wh / 1000, now)  # fmt: skip

    @post("/{session_id:uuid}/price-again", status_code=HTTP_200_OK)
    async def price_again(self, db: AsyncSession, principal: Principal, session_id: uuid.UUID) -> CdrOut | None:
        """A session in review: find its tariff again (e.g. one was assigned since) and issue its CDR."""
        principal.require("reports.write")
        async with db.begin():
            cdr = await tariffs.price_again(db, principal.tenant_id, session_id)
            return cdr_out(cdr) if cdr else None


class PriceController(Controller):
    path = "/evses"
    tags = ["tariffs"]
    dependencies = {"principal": guarded("tariffs")}

    @get("/{evse_id:uuid}/prices")
    async def prices(
        self, db: AsyncSession, principal: Principal, evse_id: uuid.UUID,
        audience: Literal["public", "ad_hoc", "internal", "visitor", "roaming", "home"] = "public",
    ) -> DriverPrices:  # fmt: skip
        """What a driver sees before starting here: price per kWh, per hour, start fee, parking, incl. VAT."""
        async with db.begin():
            return await tariffs.driver_prices(db, principal.tenant_id, evse_id, audience)  # type: ignore[no-any-return]
