"""The tariff editor's simple form, to and from an OCPI tariff body. Pure.

The simple form covers what most site owners charge: a start fee, a price per kWh (with an optional night
price in a window past midnight), a price per hour charging, a parking fee per hour billed per step, one VAT
rate, and a minimum and maximum price. Anything else is edited as OCPI elements (JSON).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from cpo.errors import InvalidInput
from cpo.tariffs.ocpi import Price, PriceComponent, TariffElement, TariffRestrictions
from cpo.tariffs.schemas import TariffBody

PRICES = ("start_fee", "energy_price", "night_energy_price", "time_price", "parking_price")


def _amount(values: dict[str, str], name: str) -> Decimal | None:
    text = (values.get(name) or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(name, "a number, e.g. 0.35") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInput(name, "a number of zero or more")
    return amount


def body_from_simple(values: dict[str, str]) -> TariffBody:
    """An OCPI body from the simple form; a 400 naming the field that cannot be read."""
    vat = _amount(values, "vat")
    if vat is not None and vat > 100:
        raise InvalidInput("vat", "a percentage from 0 to 100")
    prices = {name: _amount(values, name) for name in PRICES}
    if all(p is None for p in prices.values()):
        raise InvalidInput("energy_price", "give at least one price (0 for free of charge)")

    def component(kind: str, price: Decimal, step: int = 1) -> PriceComponent:
        return PriceComponent(type=kind, price=price, step_size=step, vat=vat)  # type: ignore[arg-type]

    elements: list[TariffElement] = []
    if prices["start_fee"] is not None:
        elements.append(TariffElement([component("FLAT", prices["start_fee"])]))
    if prices["night_energy_price"] is not None:
        start, end = values.get("night_from") or "", values.get("night_to") or ""
        if not start or not end:
            raise InvalidInput("night_from", "a night price needs the hours it applies, e.g. 22:00 to 07:00")
        elements.append(TariffElement([component("ENERGY", prices["night_energy_price"])],
                                      TariffRestrictions(start_time=start, end_time=end)))  # fmt: skip
    if prices["energy_price"] is not None:
        elements.append(TariffElement([component("ENERGY", prices["energy_price"])]))
    if prices["time_price"] is not None:
        elements.append(TariffElement([component("TIME", prices["time_price"])]))
    if prices["parking_price"] is not None:
        try:
            step = int(values.get("parking_step_minutes") or "1")
        except ValueError:
            raise InvalidInput("parking_step_minutes", "a whole number of minutes") from None
        if not 1 <= step <= 1440:
            raise InvalidInput("parking_step_minutes", "from 1 to 1440 minutes")
        elements.append(TariffElement([component("PARKING_TIME", prices["parking_price"], step * 60)]))
    low, high = _amount(values, "min_price"), _amount(values, "max_price")
    return TariffBody(
        elements=elements,
        min_price=Price(low) if low is not None else None,
        max_price=Price(high) if high is not None else None,
    )


def body_from_json(text: str) -> TariffBody:
    """An OCPI body from the advanced field: ``{"elements": [...], ...}`` or just the elements list."""
    try:
        data: Any = msgspec.json.decode(text.encode())
        if isinstance(data, list):
            data = {"elements": data}
        return msgspec.convert(data, TariffBody, strict=False)
    except msgspec.ValidationError as error:
        raise InvalidInput("elements_json", str(error)) from None
    except msgspec.DecodeError as error:
        raise InvalidInput("elements_json", f"not JSON: {error}") from None


def simple_from_body(body: TariffBody) -> dict[str, str] | None:
    """The simple form's values for a body it could have made; None when the body needs the advanced editor."""
    out: dict[str, str] = {}
    vats = {c.vat for e in body.elements for c in e.price_components}
    if len(vats) > 1:
        return None
    vat = vats.pop() if vats else None
    if vat is not None:
        out["vat"] = str(vat)
    for element in body.elements:
        if len(element.price_components) != 1:
            return None
        component = element.price_components[0]
        r = element.restrictions
        night = (
            r is not None
            and bool(r.start_time and r.end_time)
            and all(getattr(r, f) is None for f in r.__struct_fields__ if f not in ("start_time", "end_time"))
        )
        key = {"FLAT": "start_fee", "ENERGY": "energy_price", "TIME": "time_price", "PARKING_TIME": "parking_price"}
        name = key[component.type]
        if r is not None:
            if component.type != "ENERGY" or not night or "night_energy_price" in out:
                return None
            name = "night_energy_price"
            out["night_from"], out["night_to"] = r.start_time or "", r.end_time or ""
        if name in out:
            return None
        if component.type in ("ENERGY", "TIME") and component.step_size != 1:
            return None
        out[name] = str(component.price)
        if component.type == "PARKING_TIME":
            if component.step_size % 60:
                return None
            out["parking_step_minutes"] = str(component.step_size // 60)
    for name in ("min_price", "max_price"):
        limit = getattr(body, name)
        if limit is not None:
            if limit.incl_vat is not None:
                return None
            out[name] = str(limit.excl_vat)
    if body.type or body.tariff_alt_text or body.tariff_alt_url or body.energy_mix:
        return None
    return out
