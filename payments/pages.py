"""The driver's pages (mobile first, NL/EN, no account): the pay page of an EVSE, the live session page and
the receipt (HTML and PDF). The only key to a payment's pages is the secret link given when it was opened."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.adhoc import service as adhoc
from cpo.adhoc.models import STATUSES, AdHocPayment
from cpo.errors import NotFound
from cpo.settings import PaymentSettings
from cpo.sites.models import Evse, Site, Station
from cpo.tariffs import service as tariffs
from cpo.tariffs.models import Cdr
from cpo.tenants.models import Tenant
from cpo.web.problems import API_EXCEPTION_HANDLERS
from cpo.web.ui.i18n import pick_language, translate
from payments.flow import Payments
from payments.receipt_pdf import receipt_pdf
from payments.web import provide_payments, status_of


def price_text(amount: Decimal) -> str:
    """A unit price as shown to drivers: two decimals, more only when the price has them (0.605 stays)."""
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{amount:.{min(places, 4)}f}"


def _language(request: Request[Any, Any, Any], fallback: str | None = None) -> str:
    chosen = request.query_params.get("lang")
    if chosen in ("nl", "en"):
        return str(chosen)
    return pick_language(request.cookies.get("lang") or fallback, request.headers.get("accept-language"))


@get("/pay/{evse_id:str}")
async def pay_page(
    request: Request[Any, Any, Any], evse_id: str, db: AsyncSession, state: State, payments: Payments
) -> Template:
    settings: PaymentSettings = state.settings.payments
    lang = _language(request)
    async with db.begin():
        try:
            place = await adhoc.place_of(db, evse_id)
        except NotFound:
            return Template("pay/base.html", context={"lang": lang}, status_code=404)
        unavailable = await adhoc.why_unavailable(db, place)
        try:
            prices = await tariffs.driver_prices(db, place.evse.tenant_id, place.evse.id, "ad_hoc")
        except NotFound:
            prices = None
    components = [{"type": c.type, "when": c.when, "unit": c.unit, "price": price_text(c.price_incl_vat)}
                  for c in (prices.components if prices else [])]  # fmt: skip
    context = {"lang": lang, "site": place.site, "evse": place.evse, "unavailable": unavailable, "prices": prices,
               "components": components, "availability_url": f"/pay/{place.evse.evse_id}/availability",
               "reasons": {r: translate(lang, f"pay.why.{r}") for r in ("offline", "occupied", "out_of_order")},
               "enabled": await payments.publishable_key_for(place.evse.tenant_id) is not None, "hold": f"{settings.hold_minor / 100:.2f}", "currency": place.site.currency,
               "stripe_js_url": settings.stripe_js_url, "start_url": f"/pay/{place.evse.evse_id}/start"}  # fmt: skip
    return Template("pay/evse.html", context=context)


async def _payment_place(db: AsyncSession, payment: AdHocPayment) -> tuple[Evse, Site]:
    evse = await db.get(Evse, payment.evse_id)
    assert evse is not None
    station = await db.get(Station, payment.station_id)
    assert station is not None
    site = await db.get(Site, station.site_id)
    assert site is not None
    return evse, site


@get("/pay/p/{token:str}")
async def session_page(request: Request[Any, Any, Any], token: str, db: AsyncSession, payments: Payments) -> Template:
    async with db.begin():
        payment = await adhoc.by_view_token(db, token)
        lang = _language(request, payment.locale)
        evse, site = await _payment_place(db, payment)
        status = await status_of(db, payments, payment)
    texts = {s: translate(lang, f"pay.status.{s}") for s in STATUSES}
    return Template("pay/session.html", context={"lang": lang, "evse": evse, "site": site, "status": status,
                                                 "link": f"/pay/p/{token}", "status_texts": texts})  # fmt: skip


async def _receipt_of(db: AsyncSession, payment: AdHocPayment) -> tuple[Evse, Site, Cdr | None, str]:
    evse, site = await _payment_place(db, payment)
    cdr = await tariffs.live_cdr(db, payment.session_id) if payment.session_id else None
    tenant = await db.get(Tenant, payment.tenant_id)
    operator = "" if tenant is None else ", ".join(x for x in (tenant.name, tenant.operator_details) if x)
    return evse, site, cdr, operator


async def _receipt(db: AsyncSession, token: str) -> tuple[AdHocPayment, Evse, Site, Cdr | None, str]:
    payment = await adhoc.by_view_token(db, token)
    return (payment, *await _receipt_of(db, payment))


async def receipt_document(db: AsyncSession, payment: AdHocPayment, lang: str) -> bytes:
    """The receipt as PDF: operator, place, EVSE, session, amounts with the VAT, what the card paid."""
    evse, site, cdr, operator = await _receipt_of(db, payment)

    def t(key: str) -> str:
        return translate(lang, key)

    rows = [(t("pay.operator"), operator), (t("pay.place"), f"{site.name}, {site.address}, {site.city}"),
            (t("pay.evse"), evse.evse_id or evse.uid), (t("pay.reference"), str(payment.id))]  # fmt: skip
    if cdr is not None:
        rows += [
            (t("pay.started"), cdr.start_date_time.strftime("%Y-%m-%d %H:%M UTC")),
            (t("pay.stopped"), cdr.end_date_time.strftime("%Y-%m-%d %H:%M UTC")),
            (t("pay.energy"), f"{cdr.total_energy_kwh:.3f} kWh"),
            (t("pay.excl_vat"), f"{cdr.currency} {cdr.total_excl:.2f}"),
            (t("pay.vat"), f"{cdr.currency} {cdr.total_incl - cdr.total_excl:.2f}"),
            (t("pay.total"), f"{cdr.currency} {cdr.total_incl:.2f}"),
        ]  # fmt: skip
    rows.append((t("pay.charged_to_card"), f"{payment.currency} {payment.captured_minor / 100:.2f}"))
    if payment.refunded_minor:
        rows.append((t("pay.refunded"), f"{payment.currency} {payment.refunded_minor / 100:.2f}"))
    return receipt_pdf(t("pay.receipt"), rows)


@get("/pay/p/{token:str}/receipt")
async def receipt_page(request: Request[Any, Any, Any], token: str, db: AsyncSession) -> Template:
    async with db.begin():
        payment, evse, site, cdr, operator = await _receipt(db, token)
    lang = _language(request, payment.locale)
    return Template("pay/receipt.html", context={"lang": lang, "payment": payment, "evse": evse, "site": site,
                                                 "cdr": cdr, "operator": operator, "link": f"/pay/p/{token}"})  # fmt: skip


@get("/pay/p/{token:str}/receipt.pdf")
async def receipt_file(request: Request[Any, Any, Any], token: str, db: AsyncSession) -> Response[bytes]:
    async with db.begin():
        payment = await adhoc.by_view_token(db, token)
        body = await receipt_document(db, payment, _language(request, payment.locale))
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="receipt-{payment.id}.pdf"'})  # fmt: skip


def pages_router() -> Router:
    return Router(
        path="/", route_handlers=[pay_page, session_page, receipt_page, receipt_file],
        dependencies={"payments": Provide(provide_payments, sync_to_thread=False)},
        exception_handlers=API_EXCEPTION_HANDLERS, include_in_schema=False,
    )  # fmt: skip
