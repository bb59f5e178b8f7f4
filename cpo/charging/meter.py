"""Meter values: parsing the strings stations send into exact numbers in base units. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"
# To base units: Wh, W, var(h), VA, A, V.
_SCALE = {"kWh": ("Wh", 1000), "kW": ("W", 1000), "kvarh": ("varh", 1000), "kvar": ("var", 1000), "kVA": ("VA", 1000)}
_DEFAULT_UNITS = {ENERGY_REGISTER: "Wh", POWER: "W", SOC: "Percent", "Current.Import": "A", "Voltage": "V"}


@dataclass(frozen=True, slots=True)
class Sample:
    measurand: str
    raw: str
    value: Decimal | None
    unit: str | None
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    signed: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """All samples a station took at one moment."""

    at: datetime
    samples: tuple[Sample, ...]


def parse_number(raw: str | float | int | None) -> Decimal | None:
    """A finite decimal, or None for the junk stations send (empty strings, 'NaN', words)."""
    if raw is None:
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def make_sample(
    measurand: str | None,
    raw: str | float | int,
    unit: str | None = None,
    phase: str | None = None,
    location: str | None = None,
    context: str | None = None,
    signed: dict[str, Any] | None = None,
) -> Sample:
    name = measurand or ENERGY_REGISTER  # OCPP: a sample without measurand is the energy register
    value = parse_number(raw)
    unit = unit or _DEFAULT_UNITS.get(name)
    if unit in _SCALE:
        unit, factor = _SCALE[unit]
        value = value * factor if value is not None else None
    return Sample(name, str(raw), value, unit, phase, location, context, signed)


def _overall(samples: tuple[Sample, ...], measurand: str) -> Decimal | None:
    """The station-wide value: the unphased sample, else the sum of the phases (for power and current)."""
    matching = [s for s in samples if s.measurand == measurand and s.value is not None and s.location != "EV"]
    if not matching:
        return None
    whole = [s for s in matching if s.phase is None]
    if whole:
        return whole[-1].value
    if measurand in (ENERGY_REGISTER, SOC):
        return None  # a register is never the sum of phase readings
    return sum((s.value for s in matching if s.value is not None and s.phase in ("L1", "L2", "L3")), Decimal(0))


def energy_register(reading: Reading) -> Decimal | None:
    return _overall(reading.samples, ENERGY_REGISTER)


def power(reading: Reading) -> Decimal | None:
    return _overall(reading.samples, POWER)


def state_of_charge(reading: Reading) -> Decimal | None:
    values = [s.value for s in reading.samples if s.measurand == SOC and s.value is not None]
    return values[-1] if values else None
