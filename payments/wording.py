"""How the driver's pages and the QR stickers say things: the visitor's language (Dutch, French or English),
money in that language's way, and a tariff's prices as lines a driver reads before paying."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, get_currency_precision
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.errors import NotFound
from cpo.tariffs import service as tariffs
from cpo.tariffs.models import TariffVersion
from cpo.tariffs.ocpi import TariffRestrictions
from cpo.web.ui.i18n import translate

PAY_LANGUAGES = ("nl", "fr", "en")
"""What a driver can read the pay pages in (Belgium's and the Netherlands' visitors); English otherwise."""
LOCALES = {"nl": "nl_BE", "fr": "fr_BE", "en": "en_IE"}
"""Number and currency conventions per language: "€ 0,55" (nl), "0,55 €" (fr), "€0.55" (English in the euro
area)."""
COOKIE = "pay_lang"


def pick_pay_language(*choices: str | None, accept_language: str | None = None) -> str:
    """The first of ``choices`` (the page's switch, a cookie, the payment's own) that is a pay language, else
    the browser's most preferred one (``fr-BE`` is French), else English."""
    for choice in choices:
        if choice in PAY_LANGUAGES:
            return str(choice)
    wanted: list[tuple[float, int, str]] = []
    for order, part in enumerate((accept_language or "")[:500].split(",")):
        code, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        language = code.strip().lower().split("-")[0]
        if language in PAY_LANGUAGES and weight > 0:
            wanted.append((-weight, order, language))
    return min(wanted)[2] if wanted else "en"


def money(amount: Decimal | int, currency: str, lang: str) -> str:
    """An amount to pay, with two decimals (the currency's own minor units) the way ``lang`` writes money;
    rounded half up, as the amounts taken are (0.605 is 0.61, not the bankers' 0.60)."""
    exact = Decimal(amount).quantize(Decimal(1).scaleb(-get_currency_precision(currency)), rounding=ROUND_HALF_UP)
    return format_currency(exact, currency, locale=LOCALES.get(lang, LOCALES["en"]))


def minor_money(minor: int, currency: str, lang: str) -> str:
    """An amount in minor units (cents)."""
    return money(Decimal(minor) / 100, currency, lang)


def unit_price(amount: Decimal, currency: str, lang: str) -> str:
    """A price per kWh or per hour: two decimals, three when the price has a third (0.484 per kWh is not
    rounded to 0.48: that would understate every kWh). Never more than three."""
    rounded = amount.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    if rounded == rounded.quantize(Decimal("0.01")):
        rounded = rounded.quantize(Decimal("0.01"))
    return format_currency(rounded, currency, locale=LOCALES.get(lang, LOCALES["en"]), currency_digits=False,
                           decimal_quantization=False)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PriceLine:
    """One price as a driver reads it: "Energy 22:00-07:00: € 0,35 per kWh"."""

    kind: str
    """The OCPI price component type: ENERGY, FLAT, TIME, PARKING_TIME."""
    label: str
    when: str | None
    price: str
    per: str


DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


def when_text(restrictions: TariffRestrictions | None, lang: str) -> str | None:
    """When a tariff element applies, in words of ``lang`` (None: always)."""
    if restrictions is None:
        return None

    def t(key: str, **values: object) -> str:
        return translate(lang, f"pay.when.{key}", **values)

    parts = []
    if restrictions.day_of_week:
        days = sorted(restrictions.day_of_week, key=lambda d: DAYS.index(d) if d in DAYS else 7)
        parts.append(", ".join(translate(lang, f"pay.day.{d}") for d in days))
    if restrictions.start_time or restrictions.end_time:
        parts.append(f"{restrictions.start_time or '00:00'}\u2013{restrictions.end_time or '24:00'}")
    if restrictions.start_date or restrictions.end_date:
        parts.append(t("dates", start=_day(restrictions.start_date, lang), end=_day(restrictions.end_date, lang)))
    for name, unit in (("kwh", "kWh"), ("power", "kW"), ("current", "A")):
        low, high = getattr(restrictions, f"min_{name}"), getattr(restrictions, f"max_{name}")
        if low is not None:
            parts.append(t("from", amount=f"{_number(low, lang)} {unit}"))
        if high is not None:
            parts.append(t("below", amount=f"{_number(high, lang)} {unit}"))
    if restrictions.min_duration is not None:
        parts.append(t("after_minutes", minutes=restrictions.min_duration // 60))
    if restrictions.max_duration is not None:
        parts.append(t("first_minutes", minutes=restrictions.max_duration // 60))
    return "; ".join(parts) or None


def _day(value: str | None, lang: str) -> str:
    if not value:
        return "…"
    return format_date(date.fromisoformat(str(value)), "medium", locale=LOCALES.get(lang, LOCALES["en"]))


def _number(value: object, lang: str) -> str:
    text = format(Decimal(str(value)).normalize(), "f")
    return text.replace(".", ",") if lang in ("nl", "fr") else text


PER = {"ENERGY": "kWh", "TIME": "hour", "PARKING_TIME": "hour", "FLAT": "session"}


async def price_lines(session: AsyncSession, tenant_id: uuid.UUID, evse_id: uuid.UUID, lang: str) -> list[PriceLine]:
    """What a driver pays at this EVSE without an account (its ad-hoc tariff in force now), incl. VAT, line by
    line in the tariff's order: the pay page and the sticker show the same. NotFound when there is none."""
    prices = await tariffs.driver_prices(session, tenant_id, evse_id, "ad_hoc")
    version = await session.scalar(select(TariffVersion).where(TariffVersion.tariff_id == prices.tariff_id,
                                                               TariffVersion.valid_from == prices.valid_from))  # fmt: skip
    if version is None:
        raise NotFound("tariff", str(prices.tariff_id))
    # the same elements, in the same order, as driver_prices lists their components (reservations left out)
    restrictions = [element.restrictions for element in tariffs.body_of(version).elements
                    for _ in element.price_components
                    if not (element.restrictions is not None and element.restrictions.reservation)]  # fmt: skip
    lines, restricted = [], set()
    for component, limits in zip(prices.components, restrictions, strict=True):
        when = when_text(limits, lang)
        if when is None and component.type in restricted:
            when = translate(lang, "pay.when.otherwise")  # OCPI: the first element that applies wins
        if when is not None:
            restricted.add(component.type)
        shown = money(component.price_incl_vat, prices.currency, lang) if component.type == "FLAT" else \
            unit_price(component.price_incl_vat, prices.currency, lang)  # fmt: skip
        lines.append(PriceLine(component.type, translate(lang, f"pay.component.{component.type}"), when, shown,
                               translate(lang, f"pay.per.{PER[component.type]}")))  # fmt: skip
    return lines


def kwh(amount: Decimal, lang: str) -> str:
    """Energy with three decimals, the language's decimal mark."""
    return format_decimal(amount.quantize(Decimal("0.001")), "#,##0.000", locale=LOCALES.get(lang, LOCALES["en"])) + \
        " kWh"  # fmt: skip


MESSAGES = {
    "card payment could not be started": "unavailable",
    "the hold was released": "released",
    "the hold on the card was released during the session": "released_during",
    "the hold on the card ended before the amount was taken": "hold_ended",
    "the amount held differs from what was asked": "mismatch",
    "the station did not answer": "no_answer",
    "the station refused to start": "refused_start",
    "no car was plugged in": "no_car",
    "nothing was delivered": "nothing_delivered",
    "the payment was not finished": "not_finished",
    "stopped: the cost reached the amount held on the card": "cost_reached_hold",
    "stopped: the hold on the card was about to expire": "hold_expiring",
}
"""Why a payment stopped or was released, as the flow records it (English, for the operator), and the key of
what the driver reads instead."""


def message_text(message: str | None, lang: str, status: str) -> str:
    """The driver's words for a payment's note. A note we did not write is the processor's refusal of a card
    while the payment waits for one; anything else stays in the operator's pages."""
    if not message:
        return ""
    if (key := MESSAGES.get(message)) is not None:
        return translate(lang, f"pay.message.{key}")
    if message.startswith("the amount could not be taken"):
        return translate(lang, "pay.message.not_taken")
    return translate(lang, "pay.message.card_refused") if status == "created" else ""
