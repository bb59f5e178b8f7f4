"""The driver's pages (mobile first, NL/FR/EN, no account): the pay page of an EVSE, the live session page and
the receipt (HTML and PDF). The only key to a payment's pages is the secret link given when it was opened."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from litestar import Request, Response, Router, get
from litestar.datastructures import Cookie, State
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
from cpo.web.ui.i18n import translate
from payments.flow import Payments
from payments.receipt_pdf import receipt_pdf
from payments.web import provide_payments, status_of
from payments.wording import COOKIE as LANGUAGE_COOKIE
from payments.wording import (
    LOCALES,
    PAY_LANGUAGES,
    kwh,
    message_text,
    minor_money,
    money,
    pick_pay_language,
    price_lines,
)


def _language(request: Request[Any, Any, Any], fallback: str | None = None) -> str:
    """The page's language switch (``?lang=``), else the one chosen before (cookie), else the payment's own,
    else the browser's."""
    return pick_pay_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE), fallback,
                             accept_language=request.headers.get("accept-language"))  # fmt: skip


def _remembered(request: Request[Any, Any, Any], lang: str) -> list[Cookie]:
    """A language picked with the page's switch is kept for the driver's next pages (session, receipt)."""
    if request.query_params.get("lang") != lang:
        return []
    return [Cookie(key=LANGUAGE_COOKIE, value=lang, path="/pay/", max_age=30 * 86400, httponly=True, samesite="lax")]


def not_found(lang: str) -> Template:
    """What a visitor sees for a code that leads nowhere payable: unknown, internal, or at someone's home."""
    return Template("pay/not_found.html", context={"lang": lang, "languages": PAY_LANGUAGES}, status_code=404)


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
            return not_found(lang)
        unavailable = await adhoc.why_unavailable(db, place)
        try:
            lines = await price_lines(db, place.evse.tenant_id, place.evse.id, lang)
        except NotFound:
            lines = None
    key, hold = await payments.offer_for(place.evse.tenant_id)
    texts = {r: translate(lang, f"pay.why.{r}") for r in ("offline", "occupied", "out_of_order")}
    context = {"lang": lang, "languages": PAY_LANGUAGES, "site": place.site, "evse": place.evse,
               "unavailable": unavailable, "lines": lines, "availability_url": f"/pay/{place.evse.evse_id}/availability",
               "reasons": texts | {"failed": translate(lang, "pay.failed")}, "enabled": key is not None,
               "hold": minor_money(hold, place.site.currency, lang), "stripe_js_url": settings.stripe_js_url,
               "start_url": f"/pay/{place.evse.evse_id}/start"}  # fmt: skip
    return Template("pay/evse.html", context=context, cookies=_remembered(request, lang))


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
        payment = await adhoc.by_view_token_or_none(db, token)
        if payment is None:
            return not_found(_language(request))
        lang = _language(request, payment.locale)
        evse, site = await _payment_place(db, payment)
        status = await status_of(db, payments, payment)
    texts = {s: translate(lang, f"pay.status.{s}") for s in STATUSES}
    shown = {"cost": money(Decimal(status.cost_so_far or status.final or "0"), status.currency, lang),
             "hold": money(Decimal(status.hold), status.currency, lang),
             "energy": kwh(Decimal(status.energy_kwh or "0"), lang)}  # fmt: skip
    context = {"lang": lang, "languages": PAY_LANGUAGES, "evse": evse, "site": site, "status": status,
               "link": f"/pay/p/{token}", "status_texts": texts, "shown": shown, "locale": LOCALES[lang].replace("_", "-"),
               "message": message_text(status.message, lang, status.status)}  # fmt: skip
    return Template("pay/session.html", context=context, cookies=_remembered(request, lang))


async def _receipt_of(db: AsyncSession, payment: AdHocPayment) -> tuple[Evse, Site, Cdr | None, str]:
    evse, site = await _payment_place(db, payment)
    cdr = await tariffs.live_cdr(db, payment.session_id) if payment.session_id else None
    tenant = await db.get(Tenant, payment.tenant_id)
    operator = "" if tenant is None else ", ".join(x for x in (tenant.name, tenant.operator_details) if x)
    return evse, site, cdr, operator


def _vat_rates(cdr: Cdr) -> list[Decimal]:
    """The VAT rates of the tariff the session was priced with (its snapshot on the CDR)."""
    rates = {Decimal(str(component["vat"])) for element in cdr.tariff.get("elements", [])
             for component in element.get("price_components", []) if component.get("vat") is not None}  # fmt: skip
    return sorted(rates)


def _percent(rate: Decimal) -> str:
    return f"{rate.normalize():f}%"


PARTS = (("fixed", "pay.component.FLAT"), ("energy", "pay.component.ENERGY"), ("time", "pay.component.TIME"),
         ("parking", "pay.component.PARKING_TIME"), ("reservation", "pay.component.RESERVATION"))  # fmt: skip


def receipt_rows(payment: AdHocPayment, evse: Evse, site: Site, cdr: Cdr | None, operator: str,
                 lang: str) -> list[tuple[str, str, str]]:  # fmt: skip
    """What a receipt says, as (label, value, id) rows: operator, place, EVSE, the session, each priced part
    excl. VAT, the VAT with its rate, the total, and what the card paid (and got back)."""

    def t(key: str) -> str:
        return translate(lang, key)

    rows = [(t("pay.operator"), operator, "operator"), (t("pay.place"), f"{site.name}, {site.address}, {site.city}",
            "place"), (t("pay.evse"), evse.evse_id or evse.uid, "evse"), (t("pay.reference"), str(payment.id),
            "reference")]  # fmt: skip
    if cdr is not None:
        currency = cdr.currency

        def at(moment: datetime) -> str:  # the site's wall clock, as the driver lived it
            return format_datetime(moment, "medium", tzinfo=ZoneInfo(site.time_zone), locale=LOCALES[lang])

        rows += [(t("pay.started"), at(cdr.start_date_time), "started"),
                 (t("pay.stopped"), at(cdr.end_date_time), "stopped"),
                 (t("pay.energy"), kwh(cdr.total_energy_kwh, lang), "energy")]  # fmt: skip
        for part, label in PARTS:
            if amount := getattr(cdr, f"{part}_excl"):
                rows.append((f"{t(label)} ({t('pay.excl')})", money(amount, currency, lang), f"part-{part}"))
        rates = _vat_rates(cdr)
        vat_label = t("pay.vat") + (f" {_percent(rates[0])}" if len(rates) == 1 else "")
        rows += [(t("pay.excl_vat"), money(cdr.total_excl, currency, lang), "excl"),
                 (vat_label, money(cdr.total_incl - cdr.total_excl, currency, lang), "vat"),
                 (t("pay.total"), money(cdr.total_incl, currency, lang), "total")]  # fmt: skip
    rows.append((t("pay.charged_to_card"), minor_money(payment.captured_minor, payment.currency, lang), "charged"))
    if payment.refunded_minor:
        rows.append((t("pay.refunded"), minor_money(payment.refunded_minor, payment.currency, lang), "refunded"))
    return rows


async def receipt_document(db: AsyncSession, payment: AdHocPayment, lang: str) -> bytes:
    """The receipt as PDF, with the same rows as the page."""
    rows = receipt_rows(payment, *await _receipt_of(db, payment), lang)
    return receipt_pdf(translate(lang, "pay.receipt"), [(label, value) for label, value, _ in rows])


@get("/pay/p/{token:str}/receipt")
async def receipt_page(request: Request[Any, Any, Any], token: str, db: AsyncSession) -> Template:
    async with db.begin():
        payment = await adhoc.by_view_token_or_none(db, token)
        if payment is None:
            return not_found(_language(request))
        lang = _language(request, payment.locale)
        rows = receipt_rows(payment, *await _receipt_of(db, payment), lang)
    return Template("pay/receipt.html", context={"lang": lang, "languages": PAY_LANGUAGES, "payment": payment,
                                                 "rows": rows, "link": f"/pay/p/{token}"},
                    cookies=_remembered(request, lang))  # fmt: skip


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
