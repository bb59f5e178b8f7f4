"""Tariffs in the UI: an editor with a live preview, where each tariff applies; CDRs; the cost allocation."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.errors import Conflict, DomainError, InvalidInput
from cpo.people import service as people
from cpo.sites import service as sites
from cpo.sites.models import Evse, Station
from cpo.tariffs import service as tariffs
from cpo.tariffs.editor import body_from_json, body_from_simple, simple_from_body
from cpo.tariffs.schemas import AssignmentIn, TariffBody, TariffHead, TariffIn, VersionIn
from cpo.web.api.tariffs import PreviewIn, month_bounds, preview
from cpo.web.ui.forms import FormErrors, errors_of, form_values, parse_form
from cpo.web.ui.session import UiUser, provide_ui_db, ui_user_needing

ZONES = ("Europe/Brussels", "Europe/Amsterdam", "Europe/Luxembourg", "Europe/Berlin", "Europe/Paris", "UTC")
PREVIEW_DEFAULTS = {"preview_start": "2026-12-01T18:00", "preview_minutes": "60", "preview_kwh": "20",
                    "preview_parking": "0"}  # fmt: skip


def _body_of_form(values: dict[str, Any]) -> TariffBody:
    if values.get("mode") == "advanced":
        return body_from_json(values.get("elements_json", ""))
    return body_from_simple(values)


def _moment(values: dict[str, Any], field: str) -> datetime | None:
    """A local date and time from a form, in the zone the form names."""
    text = values.get(field)
    if not text:
        return None
    try:
        zone = ZoneInfo(values.get("zone") or "Europe/Brussels")
        return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, ZoneInfoNotFoundError):
        raise InvalidInput(field, "a date and time, e.g. 2027-01-01T00:00") from None


async def _places(db: AsyncSession, tenant_id: uuid.UUID) -> list[tuple[str, str]]:
    """Where a tariff may apply: the whole tenant, a site, or an EVSE (as ``site:<id>`` / ``evse:<id>``)."""
    options = [("", "*")]
    all_sites = {s.id: s for s in await sites.list_sites(db, tenant_id)}
    for site in all_sites.values():
        options.append((f"site:{site.id}", site.name))
    rows = (await db.execute(select(Evse, Station).join(Station, Station.id == Evse.station_id).where(
        Evse.tenant_id == tenant_id).order_by(Station.identity, Evse.ocpp_evse_id))).all()  # fmt: skip
    for evse, station in rows:
        owner = all_sites.get(station.site_id)
        options.append(
            (
                f"evse:{evse.id}",
                f"{owner.name if owner else ''} · {station.identity} / {evse.evse_id or evse.ocpp_evse_id}",
            )
        )
    return options


class TariffPages(Controller):
    path = "/tariffs"
    dependencies = {"user": ui_user_needing("tariffs.read"), "db": Provide(provide_ui_db)}

    @get("/")
    async def list_tariffs(self, db: AsyncSession, user: UiUser) -> Template:
        tenant_id = user.principal.tenant_id
        async with db.begin():
            rows = await tariffs.list_tariffs(db, tenant_id)
            assignments = await tariffs.list_assignments(db, tenant_id)
        used: dict[uuid.UUID, list[str]] = {}
        for a in assignments:
            used.setdefault(a.tariff_id, []).append(a.audience)
        return Template("tariffs/list.html", context=user.context(tariffs=rows, used=used, section="tariffs"))

    async def _editor(
        self, db: AsyncSession, user: UiUser, tariff: Any = None, values: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None, status: int = 200, assign_errors: dict[str, str] | None = None,
    ) -> Template:  # fmt: skip
        tenant_id = user.principal.tenant_id
        context: dict[str, Any] = {"tariff": tariff, "errors": errors or {}, "assign_errors": assign_errors or {},
                                   "zones": ZONES, "section": "tariffs"}  # fmt: skip
        async with db.begin():
            if tariff is not None:
                versions = await tariffs.versions_of(db, tariff.id)
                context["versions"] = versions
                context["current"] = tariffs.version_at(versions, datetime.now(UTC)) or versions[0]
                context["assignments"] = await tariffs.list_assignments(db, tenant_id, tariff.id)
                context["places"] = await _places(db, tenant_id)
                context["groups"] = await people.list_groups(db, tenant_id)
                if values is None:
                    body = tariffs.body_of(versions[-1])
                    simple = simple_from_body(body)
                    values = {"mode": "simple" if simple is not None else "advanced", **(simple or {}),
                              "elements_json": _json(body)}  # fmt: skip
        context["values"] = PREVIEW_DEFAULTS | {"mode": "simple", "currency": "EUR", "zone": "Europe/Brussels",
                                                "vat": "21"} | (values or {})  # fmt: skip
        context["place_names"] = dict(context.get("places", []))
        context["group_names"] = {g.id: g.name for g in context.get("groups", [])}
        return Template("tariffs/edit.html", context=user.context(**context), status_code=status)

    @get("/new")
    async def new_tariff(self, db: AsyncSession, user: UiUser) -> Template:
        user.require("tariffs.write")
        return await self._editor(db, user)

    @post("/new")
    async def create_tariff(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser
    ) -> Template | Redirect:
        user.require("tariffs.write", db)
        values = form_values(await request.form())
        try:
            body = _body_of_form(values)
            data = parse_form({k: values.get(k, "") for k in ("code", "name", "currency")}, TariffHead)
            async with db.begin():
                tariff = await tariffs.create_tariff(db, user.principal.tenant_id, TariffIn(
                    code=data.code, name=data.name, currency=data.currency, body=body,
                    valid_from=_moment(values, "valid_from")))  # fmt: skip
        except (FormErrors, InvalidInput, Conflict) as invalid:
            return await self._editor(db, user, None, values, errors_of(invalid), 400)
        return Redirect(f"/ui/tariffs/{tariff.id}")

    @get("/{tariff_id:uuid}")
    async def tariff_page(self, db: AsyncSession, user: UiUser, tariff_id: uuid.UUID) -> Template:
        async with db.begin():
            tariff = await tariffs.get_tariff(db, user.principal.tenant_id, tariff_id)
        return await self._editor(db, user, tariff)

    @post("/{tariff_id:uuid}/versions")
    async def add_version(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, tariff_id: uuid.UUID
    ) -> Template | Redirect:
        user.require("tariffs.write", db)
        values = form_values(await request.form())
        try:
            body = _body_of_form(values)
            valid_from = _moment(values, "valid_from") or datetime.now(UTC)
            async with db.begin():
                await tariffs.add_version(db, user.principal.tenant_id, tariff_id, VersionIn(body, valid_from))
        except (FormErrors, InvalidInput, Conflict) as invalid:
            return await self._refused(db, user, tariff_id, errors_of(invalid), values=values)
        return Redirect(f"/ui/tariffs/{tariff_id}")

    async def _refused(
        self, db: AsyncSession, user: UiUser, tariff_id: uuid.UUID, errors: dict[str, str],
        values: dict[str, Any] | None = None, assigning: bool = False,
    ) -> Template:  # fmt: skip
        """The tariff page again, with what was refused and why."""
        async with db.begin():
            tariff = await tariffs.get_tariff(db, user.principal.tenant_id, tariff_id)
        if assigning:
            return await self._editor(db, user, tariff, None, None, 400, errors)
        return await self._editor(db, user, tariff, values, errors, 400)

    @post("/{tariff_id:uuid}/assignments")
    async def assign(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, tariff_id: uuid.UUID
    ) -> Template | Redirect:
        user.require("tariffs.write", db)
        values = form_values(await request.form())
        kind, _, place = values.get("place", "").partition(":")
        fields: dict[str, Any] = {"tariff_id": str(tariff_id), "audience": values.get("audience", "")}
        if place:
            fields[f"{kind}_id"] = place
        for name in ("group_id", "partner"):
            if values.get(name):
                fields[name] = values[name]
        try:
            data = parse_form(fields, AssignmentIn)
            async with db.begin():
                await tariffs.assign(db, user.principal.tenant_id, data)
        except (FormErrors, InvalidInput, Conflict) as invalid:
            return await self._refused(db, user, tariff_id, errors_of(invalid), assigning=True)
        return Redirect(f"/ui/tariffs/{tariff_id}#where")

    @post("/assignments/{assignment_id:uuid}/delete")
    async def unassign(self, db: AsyncSession, user: UiUser, assignment_id: uuid.UUID) -> Redirect:
        user.require("tariffs.write", db)
        async with db.begin():
            found = await tariffs.list_assignments(db, user.principal.tenant_id)
            tariff_id = next((a.tariff_id for a in found if a.id == assignment_id), None)
            await tariffs.unassign(db, user.principal.tenant_id, assignment_id)
        return Redirect(f"/ui/tariffs/{tariff_id}#where" if tariff_id else "/ui/tariffs")

    @post("/preview")
    async def preview(self, request: Request[Any, Any, Any], user: UiUser) -> Template:
        """The editor's live preview: what the session described costs under the tariff being edited."""
        values = form_values(await request.form())
        context: dict[str, Any] = {"values": values}
        try:
            body = _body_of_form(values)
            start = datetime.fromisoformat(values.get("preview_start") or "2026-12-01T18:00")
            data = PreviewIn(currency=values.get("currency") or "EUR", body=body, start=start,
                             charging_minutes=int(values.get("preview_minutes") or 0),
                             energy_kwh=Decimal((values.get("preview_kwh") or "0").replace(",", ".")),
                             parking_minutes=int(values.get("preview_parking") or 0),
                             time_zone=values.get("zone") or "Europe/Brussels")  # fmt: skip
            context["result"] = preview(data)
        except (DomainError, ValueError, ArithmeticError) as error:
            context["error"] = str(error) if isinstance(error, DomainError) else "check the preview's numbers"
        return Template("tariffs/_preview.html", context=user.context(**context))


class CdrPages(Controller):
    path = "/cdrs"
    dependencies = {"user": ui_user_needing("reports.read"), "db": Provide(provide_ui_db)}

    @get("/")
    async def list_cdrs(
        self, db: AsyncSession, user: UiUser, session_class: str | None = None, before: int | None = None
    ) -> Template:
        tenant_id = user.principal.tenant_id
        async with db.begin():
            rows = await tariffs.list_cdrs(db, tenant_id, 100, before, session_class or None)
            review = await tariffs.sessions_to_review(db, tenant_id)
        context = {"cdrs": rows, "review": review, "session_class": session_class or "", "section": "billing"}
        return Template("billing/cdrs.html", context=user.context(**context))

    @get("/{cdr_id:uuid}")
    async def cdr_page(self, db: AsyncSession, user: UiUser, cdr_id: uuid.UUID) -> Template:
        async with db.begin():
            cdr = await tariffs.get_cdr(db, user.principal.tenant_id, cdr_id)
            credits = await tariffs.list_cdrs(db, user.principal.tenant_id, 10)
        credited_by = next((c for c in credits if c.credit_of == cdr.id), None)
        return Template("billing/cdr.html", context=user.context(cdr=cdr, credited_by=credited_by, section="billing"))

    @post("/{cdr_id:uuid}/credit")
    async def credit(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, cdr_id: uuid.UUID
    ) -> Redirect:
        user.require("reports.write", db)
        form = await request.form()
        reason = str(form.get("reason", "")).strip()
        if not reason:
            raise InvalidInput("reason", "say why the CDR is credited")
        async with db.begin():
            credit, reissued = await tariffs.credit_cdr(db, user.principal.tenant_id, cdr_id, reason[:255],
                                                        form.get("reissue") == "on")  # fmt: skip
        return Redirect(f"/ui/cdrs/{(reissued or credit).id}")

    @post("/sessions/{session_id:uuid}/price-again")
    async def price_again(self, db: AsyncSession, user: UiUser, session_id: uuid.UUID) -> Redirect:
        user.require("reports.write", db)
        async with db.begin():
            cdr = await tariffs.price_again(db, user.principal.tenant_id, session_id)
        return Redirect(f"/ui/cdrs/{cdr.id}" if cdr else "/ui/cdrs")


class BillingPages(Controller):
    path = "/billing"
    dependencies = {"user": ui_user_needing("reports.read"), "db": Provide(provide_ui_db)}

    @get("/allocation")
    async def allocation(self, db: AsyncSession, user: UiUser, month: str | None = None) -> Template:
        month = month or datetime.now(UTC).strftime("%Y-%m")
        start, end = _month(month)
        async with db.begin():
            rows = await tariffs.allocation(db, user.principal.tenant_id, start, end)
        totals = {
            k: sum((getattr(r, k) for r in rows), Decimal(0)) for k in ("energy_kwh", "excl_vat", "vat", "incl_vat")
        }
        return Template("billing/allocation.html", context=user.context(rows=rows, month=month, totals=totals,
                                                                        section="billing"))  # fmt: skip

    @get("/allocation.csv")
    async def allocation_csv(self, db: AsyncSession, user: UiUser, month: str) -> Response[str]:
        start, end = _month(month)
        async with db.begin():
            rows = await tariffs.allocation(db, user.principal.tenant_id, start, end)
        return Response(tariffs.allocation_csv(rows, month), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="cost-allocation-{month}.csv"'})  # fmt: skip


def _month(month: str) -> tuple[datetime, datetime]:
    try:
        return month_bounds(month)
    except ValueError:
        raise InvalidInput("month", "a month as YYYY-MM") from None


def _json(body: TariffBody) -> str:
    return json.dumps(msgspec.to_builtins(body), indent=1)
