"""QR codes in the admin UI: one EVSE's code (SVG) and a site's printable sticker sheet (A4 PDF)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.adhoc import service as adhoc
from cpo.adhoc.models import AdHocRefund
from cpo.adhoc.processor import CardRefused, ProcessorUnavailable
from cpo.db.base import utcnow
from cpo.db.queries import get_scoped
from cpo.errors import Conflict, InvalidInput, NotFound
from cpo.sites.models import Evse, Site, Station
from cpo.tariffs.models import Cdr
from cpo.tenants.models import Tenant
from cpo.web.ui.forms import form_values
from cpo.web.ui.i18n import translate
from cpo.web.ui.session import UiUser, provide_ui_db, ui_user_needing
from payments.flow import Payments, PaymentsUnavailable
from payments.qr import Sticker, StickerText, qr_svg, sticker_sheet
from payments.wording import PAY_LANGUAGES, price_lines


async def sticker_texts(db: AsyncSession, tenant_id: uuid.UUID, evse_id: uuid.UUID) -> tuple[StickerText, ...]:
    """What the EVSE's pay page says about its prices, in each of its languages (a sticker serves all)."""
    texts = []
    for lang in PAY_LANGUAGES:
        try:
            lines = await price_lines(db, tenant_id, evse_id, lang)
        except NotFound:
            lines = []
        prices = tuple(
            (f"{line.label} ({line.when})" if line.when else line.label, f"{line.price} {line.per}") for line in lines
        )
        note = translate(lang, "pay.incl_vat" if lines else "pay.no_price")
        texts.append(StickerText(translate(lang, "pay.sticker.how"), prices, note))
    return tuple(texts)


def pay_url(state: State, evse: Evse) -> str:
    return f"{state.settings.base_url}/pay/{evse.evse_id}"


class QrPages(Controller):
    path = "/"
    dependencies = {"user": ui_user_needing("sites.read"), "db": Provide(provide_ui_db)}

    @get("/evses/{evse_id:uuid}/qr.svg")
    async def evse_qr(self, evse_id: uuid.UUID, db: AsyncSession, user: UiUser, state: State) -> Response[Any]:
        async with db.begin():
            evse = await get_scoped(db, Evse, user.principal.tenant_id, evse_id, "EVSE")
            home = await db.scalar(select(Site.home_person_id).join(Station, Station.site_id == Site.id)
                                   .where(Station.id == evse.station_id))  # fmt: skip
        if not evse.public or not evse.evse_id or home is not None:
            raise Conflict("only a public EVSE with an EVSE ID, not at an employee's home, has a pay page", "evse_id")
        return Response(qr_svg(pay_url(state, evse)), media_type="image/svg+xml",
                        headers={"Content-Disposition": f'inline; filename="{evse.evse_id}.svg"'})  # fmt: skip

    @get("/sites/{site_id:uuid}/qr-stickers.pdf")
    async def site_stickers(self, site_id: uuid.UUID, db: AsyncSession, user: UiUser, state: State) -> Response[Any]:
        tenant_id = user.principal.tenant_id
        async with db.begin():
            site = await get_scoped(db, Site, tenant_id, site_id, "site")
            if site.home_person_id is not None:
                raise Conflict("an employee's home has no pay pages, so no QR stickers", "site")
            evses = (await db.execute(select(Evse).join(Station, Station.id == Evse.station_id).where(
                Station.site_id == site.id, Evse.public, Evse.evse_id.is_not(None)).order_by(Evse.evse_id))).scalars()  # fmt: skip
            stickers = [Sticker(pay_url(state, evse), evse.evse_id or "", f"{site.name}, {site.city}",
                                await sticker_texts(db, tenant_id, evse.id)) for evse in evses]  # fmt: skip
        if not stickers:
            raise Conflict("this site has no public EVSE with an EVSE ID", "site")
        return Response(sticker_sheet(stickers), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="qr-stickers-{site.id}.pdf"'})  # fmt: skip


def _minor(text: str) -> int:
    """An amount typed in the UI ("2.50" or "2,50") in minor units; InvalidInput when it is not one."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise InvalidInput("amount", "an amount such as 2.50") from None
    if not value.is_finite() or value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput("amount", "an amount such as 2.50 (at most two decimals)")
    return int(value * 100)


class PaymentPages(Controller):
    """Card payments at the charger: a day's payments with totals and what needs a look, and refunds."""

    path = "/payments"
    dependencies = {"user": ui_user_needing("reports.read"), "db": Provide(provide_ui_db)}

    async def _page(self, db: AsyncSession, user: UiUser, day: date, status: int = 200, **extra: Any) -> Template:
        async with db.begin():
            tenant = await db.get(Tenant, user.principal.tenant_id)
            report = await adhoc.day_report(db, user.principal.tenant_id, day, "UTC")
            places = {e.id: e.evse_id for e in (await db.execute(select(Evse).where(
                Evse.id.in_([p.evse_id for p in report.payments])))).scalars()}  # fmt: skip
            cdrs = {c.session_id: c for c in (await db.execute(select(Cdr).where(
                Cdr.session_id.in_([p.session_id for p in report.payments if p.session_id]),
                Cdr.credit.is_(False)))).scalars()}  # fmt: skip
            pending: dict[uuid.UUID, int] = {}
            for refund in (await db.execute(select(AdHocRefund).where(
                    AdHocRefund.payment_id.in_([p.id for p in report.payments]), AdHocRefund.status == "pending"))).scalars():  # fmt: skip
                pending[refund.payment_id] = pending.get(refund.payment_id, 0) + refund.amount_minor
        context = {"report": report, "places": places, "cdrs": cdrs, "day": day, "section": "billing",
                   "pending_refunds": pending, "fresh_id": uuid.uuid4,
                   "errors": {}, "operator": tenant.name if tenant else ""} | extra  # fmt: skip
        return Template("payments.html", context=user.context(**context), status_code=status)

    @get("/")
    async def payments_page(self, db: AsyncSession, user: UiUser, day: str | None = None) -> Template:
        try:
            chosen = date.fromisoformat(day) if day else utcnow().date()
        except ValueError:
            return await self._page(db, user, utcnow().date(), 400, errors={"day": "YYYY-MM-DD"})
        return await self._page(db, user, chosen)

    @post("/{payment_id:uuid}/refund")
    async def refund(
        self, request: Request[Any, Any, Any], payment_id: uuid.UUID, db: AsyncSession, user: UiUser, state: State
    ) -> Template:
        user.require("reports.write", db)
        values = form_values(await request.form())
        payments: Payments = state.payments
        day = utcnow().date()
        try:
            async with db.begin():
                payment = await adhoc.tenant_payment(db, user.principal.tenant_id, payment_id)
                day = payment.created_at.date()
            try:
                request_id = uuid.UUID(values.get("request", ""))
            except ValueError:
                raise InvalidInput("request", "the form is out of date: reload the page") from None
            status = await payments.refund(user.principal.tenant_id, payment_id, _minor(values.get("amount", "")),
                                           request_id, user.principal.actor)  # fmt: skip
        except InvalidInput as invalid:
            return await self._page(db, user, day, 400, errors={str(payment_id): invalid.reason})
        except Conflict as conflict:
            return await self._page(db, user, day, 409, errors={str(payment_id): str(conflict)})
        except ProcessorUnavailable as error:
            why = f"{error}; the refund is pending and is sent again shortly"
            return await self._page(db, user, day, 502, errors={str(payment_id): why})
        except (CardRefused, PaymentsUnavailable) as error:
            return await self._page(db, user, day, 502, errors={str(payment_id): str(error)})
        if status == "failed":  # this very request was refused before
            return await self._page(db, user, day, 409, errors={str(payment_id): "the processor refused this refund"})
        return await self._page(db, user, day, refunded=str(payment_id), refund_status=status)
