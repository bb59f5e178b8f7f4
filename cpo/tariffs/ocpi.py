"""The OCPI 2.2.1 Tariff, ChargingPeriod and CDR shapes as msgspec Structs (pure: no I/O).

Numbers decode to ``Decimal`` exactly as written. These Structs are the tariff model itself: a tariff
version stores its elements in this shape, and OCPI 2.3.0 renders from the same data (see ``render``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

Dimension = Literal["ENERGY", "FLAT", "PARKING_TIME", "TIME"]
DayOfWeek = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
TariffType = Literal["AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"]
CdrDimension = Literal[
    "CURRENT", "ENERGY", "ENERGY_EXPORT", "ENERGY_IMPORT", "MAX_CURRENT", "MIN_CURRENT", "MAX_POWER", "MIN_POWER",
    "PARKING_TIME", "POWER", "RESERVATION_TIME", "STATE_OF_CHARGE", "TIME",
]  # fmt: skip

# msgspec cannot bound a Decimal: ``engine.compile_tariff`` refuses negative prices and amounts.
Money = Decimal
Amount = Decimal
TimeOfDay = Annotated[str, Meta(pattern=r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$")]
Day = Annotated[str, Meta(pattern=r"^([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
DAYS: tuple[str, ...] = DayOfWeek.__args__  # type: ignore[attr-defined]


class Price(Struct, omit_defaults=True):
    excl_vat: Decimal
    incl_vat: Decimal | None = None


class PriceComponent(Struct, omit_defaults=True):
    type: Dimension
    price: Money
    """Per unit, excluding VAT: per kWh, per hour, or the fee itself for FLAT."""
    step_size: Annotated[int, Meta(ge=0)]
    """In Wh or seconds; FLAT has no unit (the spec's own free-of-charge example writes 0)."""
    vat: Decimal | None = None
    """Percentage; absent means no VAT applies (not the same as 0)."""


class TariffRestrictions(Struct, omit_defaults=True):
    start_time: TimeOfDay | None = None
    end_time: TimeOfDay | None = None
    start_date: Day | None = None
    end_date: Day | None = None
    min_kwh: Amount | None = None
    max_kwh: Amount | None = None
    min_current: Amount | None = None
    max_current: Amount | None = None
    min_power: Amount | None = None
    max_power: Amount | None = None
    min_duration: Annotated[int, Meta(ge=0)] | None = None
    max_duration: Annotated[int, Meta(ge=0)] | None = None
    day_of_week: list[DayOfWeek] | None = None
    reservation: Literal["RESERVATION", "RESERVATION_EXPIRES"] | None = None


class TariffElement(Struct, omit_defaults=True):
    price_components: Annotated[list[PriceComponent], Meta(min_length=1)]
    restrictions: TariffRestrictions | None = None


class DisplayText(Struct):
    language: Annotated[str, Meta(min_length=2, max_length=2)]
    text: Annotated[str, Meta(max_length=512)]


class Tariff(Struct, omit_defaults=True):
    """An OCPI 2.2.1 Tariff. Party and ``last_updated`` are optional here: a stored tariff gets them when sent."""

    id: Annotated[str, Meta(min_length=1, max_length=36)]
    currency: Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
    elements: Annotated[list[TariffElement], Meta(min_length=1)]
    country_code: str | None = None
    party_id: str | None = None
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: str | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    energy_mix: dict[str, object] | None = None
    last_updated: datetime | None = None


class CdrDimensionValue(Struct):
    type: CdrDimension
    volume: Decimal


class ChargingPeriod(Struct, omit_defaults=True):
    start_date_time: datetime
    dimensions: Annotated[list[CdrDimensionValue], Meta(min_length=1)]
    tariff_id: str | None = None


class CdrInput(Struct):
    """The parts of an OCPI CDR the calculator reads (everything else is ignored)."""

    start_date_time: datetime
    end_date_time: datetime
    charging_periods: Annotated[list[ChargingPeriod], Meta(min_length=1)]
    tariffs: list[Tariff] | None = None
    currency: str | None = None


def decode_tariff(data: bytes | str) -> Tariff:
    return msgspec.json.decode(data, type=Tariff)


def decode_periods(data: bytes | str) -> list[ChargingPeriod]:
    return msgspec.json.decode(data, type=list[ChargingPeriod])


def decode_cdr(data: bytes | str) -> CdrInput:
    return msgspec.json.decode(data, type=CdrInput)


ENCODER = msgspec.json.Encoder(decimal_format="number")
