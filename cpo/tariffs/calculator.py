"""The tariff calculator behind ``cpo tariffs price``: an OCPI tariff and periods (or a whole CDR) in, OCPI totals out.

Pure: bytes in, a JSON-ready dict out. Roaming teams check a partner's CDR with it; site owners try a tariff.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from cpo.tariffs.engine import FOUR_PLACES, SECONDS_PER_HOUR, Pricing, TariffError, compile_tariff, price_session
from cpo.tariffs.engine import usages_from_periods as to_usages
from cpo.tariffs.ocpi import ChargingPeriod, Price, Tariff, decode_cdr, decode_periods, decode_tariff

TOTALS = {
    "total_energy_cost": "energy",
    "total_time_cost": "time",
    "total_parking_cost": "parking",
    "total_fixed_cost": "fixed",
    "total_reservation_cost": "reservation",
}


class CalculatorError(ValueError):
    """Input the calculator cannot read; the message says which file and what is wrong."""


def _four(amount: Decimal) -> Decimal:
    return amount.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def _price(price: Price) -> dict[str, Decimal]:
    out = {"excl_vat": _four(price.excl_vat)}
    if price.incl_vat is not None:
        out["incl_vat"] = _four(price.incl_vat)
    return out


def totals(pricing: Pricing) -> dict[str, Any]:
    """The OCPI CDR totals of a priced session (4 decimals, as OCPI writes numbers)."""
    out: dict[str, Any] = {"currency": pricing.currency, "total_cost": _price(pricing.total)}
    for name, category in TOTALS.items():
        if category != "reservation" or category in pricing.sums:
            out[name] = _price(pricing.cost(category))
    out["total_energy"] = _four(pricing.energy_wh / 1000)
    out["total_time"] = _four(pricing.duration_s / SECONDS_PER_HOUR)
    out["total_parking_time"] = _four(pricing.parking_s / SECONDS_PER_HOUR)
    if pricing.limited_by:
        out["limited_by"] = pricing.limited_by
    return out


def _decode(what: str, decode: Any, data: bytes) -> Any:
    try:
        return decode(data)
    except msgspec.ValidationError as error:
        raise CalculatorError(f"{what}: {error}") from None
    except msgspec.DecodeError as error:
        raise CalculatorError(f"{what}: not JSON ({error})") from None


def _end_of(periods: list[ChargingPeriod]) -> datetime:
    """Without a CDR's end: the last period lasts as long as the time it reports."""
    last = max(periods, key=lambda p: p.start_date_time)
    hours = sum((d.volume for d in last.dimensions if d.type in ("TIME", "PARKING_TIME", "RESERVATION_TIME")),
                Decimal(0))  # fmt: skip
    return last.start_date_time + timedelta(seconds=float(hours * SECONDS_PER_HOUR))


def calculate(
    tariff_json: bytes | None, periods_json: bytes | None = None, cdr_json: bytes | None = None, zone: str = "UTC",
    end: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Price periods (or a CDR's periods) under a tariff (or the CDR's first tariff)."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalculatorError(f"--tz: unknown time zone {zone!r} (an IANA name such as Europe/Brussels)") from None
    tariff: Tariff | None = _decode("tariff", decode_tariff, tariff_json) if tariff_json is not None else None
    stated: dict[str, Any] | None = None
    if cdr_json is not None:
        cdr = _decode("cdr", decode_cdr, cdr_json)
        periods, end = cdr.charging_periods, cdr.end_date_time
        if tariff is None:
            if not cdr.tariffs:
                raise CalculatorError("cdr: has no tariffs[]; give one with --tariff")
            tariff = cdr.tariffs[0]
        stated = msgspec.json.decode(cdr_json).get("total_cost")
    elif periods_json is not None:
        periods = _decode("periods", decode_periods, periods_json)
        if not periods:
            raise CalculatorError("periods: the list is empty")
        end = end or _end_of(periods)
    else:
        raise CalculatorError("give --periods or --cdr")
    if tariff is None:
        raise CalculatorError("give --tariff")
    try:
        pricing = price_session(compile_tariff(tariff), to_usages(periods, end), tz)
    except TariffError as error:
        raise CalculatorError(f"tariff: {error}") from None
    out = totals(pricing)
    if stated is not None:
        out["cdr_total_cost"] = stated
        ours = out["total_cost"]
        out["cdr_agrees"] = all(
            Decimal(str(stated.get(k))).quantize(Decimal("0.01")) == ours[k].quantize(Decimal("0.01"))
            for k in ("excl_vat", "incl_vat") if k in ours and stated.get(k) is not None
        )  # fmt: skip
    return out
