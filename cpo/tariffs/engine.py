"""The pricing engine: an OCPI 2.2.1 tariff applied to a session's periods, exactly. Pure functions over Decimal.

How a price is found (mod_tariffs and mod_cdrs of the 2.2.1 bug-fix branch):

- Per dimension, the first element that has a price component for it and whose restrictions all match, as
  time passes. Restrictions are read in the site's time zone; ``end_time`` before ``start_time`` wraps past
  midnight and ``00:00`` as the end means the end of the day. Dates: start inclusive, end exclusive.
- A period is cut wherever a restriction can change inside it: a time of day, midnight (for weekday and date
  rules), a session duration, a session energy. Its volumes are shared pro rata.
- ``step_size`` is applied once per session: to the session's total priced energy with the step of the last
  period that priced energy, and to the total of the last time dimension (TIME or PARKING_TIME) with the step
  of the last period that priced time; the volume added lands on that last period. Reservation time is
  rounded the same way, on its own.
- FLAT is charged once for charging (the first element whose FLAT matches) and once for a reservation.
- ``min_price`` and ``max_price`` bound the total, excluding and including VAT separately.
- Power and current restrictions read the period's power (average, else maximum) and current; where these
  are unknown, an element that restricts them does not apply.

Amounts are exact Decimals; ``Pricing.rounded`` gives them to 4 decimals as OCPI numbers are written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from cpo.tariffs.ocpi import ChargingPeriod, Price, PriceComponent, Tariff, TariffRestrictions

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
WH_PER_KWH = Decimal(1000)
SECONDS_PER_HOUR = Decimal(3600)
FOUR_PLACES = Decimal("0.0001")
BILLIONTH = Decimal("1e-9")
DAY_INDEX = {"MONDAY": 0, "TUESDAY": 1, "WEDNESDAY": 2, "THURSDAY": 3, "FRIDAY": 4, "SATURDAY": 5, "SUNDAY": 6}
CATEGORIES = ("energy", "time", "parking", "fixed", "reservation")


class TariffError(ValueError):
    """A tariff that cannot be used as given; ``field`` names the part."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _minutes(text: str) -> int:
    return int(text[:2]) * 60 + int(text[3:5])


@dataclass(frozen=True, slots=True)
class Rule:
    """One element's restrictions, compiled for fast matching."""

    start_min: int | None
    end_min: int | None
    start_date: date | None
    end_date: date | None
    min_wh: Decimal | None
    max_wh: Decimal | None
    min_current: Decimal | None
    max_current: Decimal | None
    min_kw: Decimal | None
    max_kw: Decimal | None
    min_s: int | None
    max_s: int | None
    days: frozenset[int] | None
    reservation: str | None

    @classmethod
    def compile(cls, r: TariffRestrictions) -> Rule:
        return cls(
            start_min=_minutes(r.start_time) if r.start_time else None,
            end_min=_minutes(r.end_time) if r.end_time else None,
            start_date=date.fromisoformat(r.start_date) if r.start_date else None,
            end_date=date.fromisoformat(r.end_date) if r.end_date else None,
            min_wh=r.min_kwh * WH_PER_KWH if r.min_kwh is not None else None,
            max_wh=r.max_kwh * WH_PER_KWH if r.max_kwh is not None else None,
            min_current=r.min_current,
            max_current=r.max_current,
            min_kw=r.min_power,
            max_kw=r.max_power,
            min_s=r.min_duration,
            max_s=r.max_duration,
            days=frozenset(DAY_INDEX[d] for d in r.day_of_week) if r.day_of_week else None,
            reservation=r.reservation,
        )

    def in_window(self, minute: int) -> bool:
        start = self.start_min or 0
        end = self.end_min if self.end_min else 1440  # absent, or 00:00: the end of the day
        if start < end:
            return start <= minute < end
        return start == end or minute >= start or minute < end

    def matches(self, state: State) -> bool:
        if (self.start_min is not None or self.end_min is not None) and not self.in_window(state.minute):
            return False
        if self.days is not None and state.weekday not in self.days:
            return False
        if self.start_date is not None and state.day < self.start_date:
            return False
        if self.end_date is not None and state.day >= self.end_date:
            return False
        if self.min_wh is not None and state.energy_wh < self.min_wh:
            return False
        if self.max_wh is not None and state.energy_wh >= self.max_wh:
            return False
        if self.min_s is not None and state.elapsed_s < self.min_s:
            return False
        if self.max_s is not None and state.elapsed_s >= self.max_s:
            return False
        if self.min_kw is not None or self.max_kw is not None:
            if state.power_kw is None:
                return False
            if self.min_kw is not None and state.power_kw < self.min_kw:
                return False
            if self.max_kw is not None and state.power_kw >= self.max_kw:
                return False
        if self.min_current is not None or self.max_current is not None:
            if state.current_a is None:
                return False
            if self.min_current is not None and state.current_a < self.min_current:
                return False
            if self.max_current is not None and state.current_a >= self.max_current:
                return False
        return True

    def cannot_match(self) -> str | None:
        """Why no moment could ever satisfy this rule, if so."""
        amounts = (self.min_wh, self.max_wh, self.min_kw, self.max_kw, self.min_current, self.max_current)
        if any(a is not None and a < 0 for a in amounts):
            return "kWh, power and current bounds cannot be negative"
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            return "end_date is not after start_date"
        if self.min_wh is not None and self.max_wh is not None and self.max_wh <= self.min_wh:
            return "max_kwh is not above min_kwh"
        if self.min_s is not None and self.max_s is not None and self.max_s <= self.min_s:
            return "max_duration is not above min_duration"
        if self.min_kw is not None and self.max_kw is not None and self.max_kw <= self.min_kw:
            return "max_power is not above min_power"
        if self.min_current is not None and self.max_current is not None and self.max_current <= self.min_current:
            return "max_current is not above min_current"
        if self.max_s == 0:
            return "max_duration 0 never applies"
        if self.max_wh == 0:
            return "max_kwh 0 never applies"
        return None


@dataclass(frozen=True, slots=True)
class Component:
    index: int
    """Position among all price components of the tariff (element by element)."""
    dimension: str
    price: Decimal
    vat: Decimal | None
    step: int
    element: int
    reservation: bool

    @property
    def category(self) -> str:
        if self.reservation:
            return "reservation"
        return {"ENERGY": "energy", "TIME": "time", "PARKING_TIME": "parking", "FLAT": "fixed"}[self.dimension]

    @property
    def unit(self) -> Decimal:
        return WH_PER_KWH if self.dimension == "ENERGY" else ONE if self.dimension == "FLAT" else SECONDS_PER_HOUR


@dataclass(frozen=True, slots=True)
class Choice:
    rule: Rule | None
    component: Component


@dataclass(frozen=True, slots=True)
class CompiledTariff:
    """A tariff ready to price many sessions: restrictions parsed, candidates listed per dimension."""

    tariff: Tariff
    components: tuple[Component, ...]
    charging: dict[str, tuple[Choice, ...]]
    reserving: tuple[tuple[Choice, ...], tuple[Choice, ...]]
    """Reservation candidates (RESERVATION, then RESERVATION_EXPIRES) in element order."""
    boundary_minutes: tuple[int, ...]
    duration_bounds: tuple[int, ...]
    energy_bounds: tuple[Decimal, ...]
    min_price: Price | None
    max_price: Price | None


def compile_tariff(tariff: Tariff) -> CompiledTariff:
    """Check and compile a tariff. Raises ``TariffError`` for one that cannot be priced as meant."""
    components: list[Component] = []
    charging: dict[str, list[Choice]] = {"ENERGY": [], "TIME": [], "PARKING_TIME": [], "FLAT": []}
    reserve: list[Choice] = []
    expires: list[Choice] = []
    minutes: set[int] = set()
    durations: set[int] = set()
    energies: set[Decimal] = set()
    for e_index, element in enumerate(tariff.elements):
        rule = Rule.compile(element.restrictions) if element.restrictions else None
        if rule is not None:
            if (why := rule.cannot_match()) is not None:
                raise TariffError(f"elements[{e_index}].restrictions", f"can never apply: {why}")
            for m in (rule.start_min, rule.end_min):
                if m is not None:
                    minutes.add(m)
            if rule.days is not None or rule.start_date or rule.end_date:
                minutes.add(0)
            durations.update(s for s in (rule.min_s, rule.max_s) if s)
            energies.update(w for w in (rule.min_wh, rule.max_wh) if w)
        seen: set[str] = set()
        for component in element.price_components:
            _check_component(component, e_index, len(components))
            if component.type in seen:
                raise TariffError(f"elements[{e_index}].price_components", f"{component.type} appears twice")
            seen.add(component.type)
            reservation = rule is not None and rule.reservation is not None
            if reservation and component.type not in ("FLAT", "TIME"):
                raise TariffError(f"elements[{e_index}].price_components",
                                  "a reservation element prices only FLAT and TIME")  # fmt: skip
            made = Component(len(components), component.type, component.price, component.vat, component.step_size,
                             e_index, reservation)  # fmt: skip
            components.append(made)
            choice = Choice(rule, made)
            if not reservation:
                charging[component.type].append(choice)
            elif rule is not None and rule.reservation == "RESERVATION":
                reserve.append(choice)
            else:
                expires.append(choice)
    for name in ("min_price", "max_price"):
        limit = getattr(tariff, name)
        if limit is not None and (limit.excl_vat < 0 or (limit.incl_vat is not None and limit.incl_vat < 0)):
            raise TariffError(name, "cannot be negative")
    if tariff.min_price and tariff.max_price and tariff.max_price.excl_vat < tariff.min_price.excl_vat:
        raise TariffError("max_price", "is below min_price")
    if tariff.start_date_time and tariff.end_date_time and tariff.end_date_time <= tariff.start_date_time:
        raise TariffError("end_date_time", "is not after start_date_time")
    return CompiledTariff(
        tariff=tariff,
        components=tuple(components),
        charging={k: tuple(v) for k, v in charging.items()},
        reserving=(tuple(reserve), tuple(expires)),
        boundary_minutes=tuple(sorted(minutes)),
        duration_bounds=tuple(sorted(durations)),
        energy_bounds=tuple(sorted(energies)),
        min_price=tariff.min_price,
        max_price=tariff.max_price,
    )


def _check_component(component: PriceComponent, element: int, index: int) -> None:
    where = f"elements[{element}].price_components"
    if component.price < 0:
        raise TariffError(where, "a price cannot be negative")
    if component.vat is not None and not 0 <= component.vat <= 100:
        raise TariffError(where, "vat is a percentage from 0 to 100")
    if component.step_size < 1 and component.type != "FLAT":
        raise TariffError(where, "step_size is a whole number of at least 1 (Wh or seconds)")


@dataclass(slots=True)
class Usage:
    """One stretch of a session: what was used from ``start`` to ``end``.

    A stretch is charging (``charging_s``), parked (``parking_s``: the vehicle not asking for power) or a
    reservation (``reservation_s``). ``power_kw`` and ``current_a`` feed power and current restrictions.
    """

    start: datetime
    end: datetime
    energy_wh: Decimal = ZERO
    charging_s: Decimal = ZERO
    parking_s: Decimal = ZERO
    reservation_s: Decimal = ZERO
    power_kw: Decimal | None = None
    current_a: Decimal | None = None
    max_power_kw: Decimal | None = None
    min_power_kw: Decimal | None = None


@dataclass(frozen=True, slots=True)
class State:
    """The moment a stretch starts: what restrictions read."""

    minute: int
    weekday: int
    day: date
    energy_wh: Decimal
    elapsed_s: Decimal
    power_kw: Decimal | None
    current_a: Decimal | None


@dataclass(slots=True)
class Line:
    """A priced stretch: the usage and the components that priced it."""

    usage: Usage
    chosen: dict[str, Component]
    tariff_id: str | None


@dataclass
class Pricing:
    """A session's price. Amounts exact; ``rounded`` gives them to 4 decimals."""

    currency: str
    total: Price
    by_category: dict[str, Price]
    volumes: dict[int, Decimal]
    """Billed volume per component index (Wh, seconds, or 1 for a FLAT fee), step_size included."""
    lines: list[Line]
    energy_wh: Decimal
    charging_s: Decimal
    parking_s: Decimal
    reservation_s: Decimal
    duration_s: Decimal
    limited_by: str | None = None
    """``min_price`` or ``max_price`` when one of them set the total."""
    extra: dict[str, Decimal] = field(default_factory=dict)

    def rounded(self, amount: Decimal) -> Decimal:
        return amount.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def _ceil_to(value: Decimal, step: int) -> Decimal:
    """The smallest multiple of ``step`` (a whole number of units) that is at least ``value``."""
    if value <= 0:
        return ZERO
    step = max(step, 1)
    # Pro-rata shares leave traces at the 28th digit (1650 Wh may sum to 1650.0000...01): no meter reads
    # a billionth of a Wh or a second, so that far down the value is settled first.
    settled = value.quantize(BILLIONTH)
    return Decimal(math.ceil(settled / step) * step)


def _state(at: datetime, zone: ZoneInfo, energy_wh: Decimal, elapsed: Decimal, usage: Usage) -> State:
    local = at.astimezone(zone)
    return State(local.hour * 60 + local.minute, local.weekday(), local.date(), energy_wh, elapsed,
                 usage.power_kw, usage.current_a)  # fmt: skip


def _cuts(
    tariff: CompiledTariff, zone: ZoneInfo, usage: Usage, session_start: datetime, energy_before: Decimal
) -> tuple[list[tuple[Decimal, datetime]], dict[Decimal, Decimal]]:
    """Where inside the stretch a restriction may start or stop applying: (share of the stretch, moment).

    A cut at an energy bound carries the bound's share exactly as the energy before it: (bound - before) / total.
    """
    start, end = usage.start, usage.end
    span = Decimal((end - start).total_seconds())
    found: dict[Decimal, datetime] = {}

    def at(moment: datetime) -> None:
        if start < moment < end:
            found[Decimal((moment - start).total_seconds()) / span] = moment

    if tariff.boundary_minutes:
        day = start.astimezone(zone).date()
        last = end.astimezone(zone).date()
        while day <= last:
            for minute in tariff.boundary_minutes:
                wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
                at(wall.astimezone(UTC))
                at(wall.replace(fold=1).astimezone(UTC))
            day += timedelta(days=1)
    for seconds in tariff.duration_bounds:
        at(session_start + timedelta(seconds=seconds))
    energy_at: dict[Decimal, Decimal] = {}
    if tariff.energy_bounds and usage.energy_wh > 0:
        for bound in tariff.energy_bounds:
            if energy_before < bound < energy_before + usage.energy_wh:
                share = (bound - energy_before) / usage.energy_wh
                found[share] = start + timedelta(seconds=float(span * share))
                energy_at[share] = bound - energy_before
    return sorted(found.items()), energy_at


def _split(
    usage: Usage, cuts: Sequence[tuple[Decimal, datetime]], energy_at: dict[Decimal, Decimal] | None = None
) -> list[Usage]:
    """The stretch cut at ``cuts``, volumes shared pro rata (the last piece takes the remainder).

    ``energy_at`` gives, for a cut at an energy bound, the stretch's energy before it, exactly."""
    if not cuts:
        return [usage]
    energy_at = energy_at or {}
    pieces: list[Usage] = []
    given = [ZERO, ZERO, ZERO, ZERO]
    whole = (usage.energy_wh, usage.charging_s, usage.parking_s, usage.reservation_s)
    edges = [(ZERO, usage.start), *cuts, (ONE, usage.end)]
    for i in range(len(edges) - 1):
        (_, a), (share_b, b) = edges[i], edges[i + 1]
        if i == len(edges) - 2:
            volumes = [w - g for w, g in zip(whole, given, strict=True)]
        else:
            volumes = [w * share_b - g for w, g in zip(whole, given, strict=True)]
            if share_b in energy_at:
                volumes[0] = energy_at[share_b] - given[0]  # exactly the bound, not a rounded share of it
            given = [g + v for g, v in zip(given, volumes, strict=True)]
        energy, charging, parking, reserving = volumes
        pieces.append(Usage(a, b, energy, charging, parking, reserving, usage.power_kw, usage.current_a,
                            usage.max_power_kw, usage.min_power_kw))  # fmt: skip
    return pieces


def _pick(choices: tuple[Choice, ...], state: State) -> Component | None:
    for choice in choices:
        if choice.rule is None or choice.rule.matches(state):
            return choice.component
    return None


def price_session(
    tariff: CompiledTariff,
    usages: Iterable[Usage],
    zone: ZoneInfo | str = "UTC",
    session_start: datetime | None = None,
    reservation_expired: bool = False,
) -> Pricing:
    """Price a session from its stretches, in order. ``zone`` is the site's time zone."""
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    stretches = list(usages)
    if not stretches:
        raise TariffError("charging_periods", "a session has at least one period")
    begin = session_start or stretches[0].start
    volumes: dict[int, Decimal] = {}
    lines: list[Line] = []
    energy = charging = parking = reserving = ZERO
    priced = {"ENERGY": ZERO, "TIME": ZERO, "PARKING_TIME": ZERO, "RESERVATION": ZERO}
    last_energy: Component | None = None
    last_time: Component | None = None
    last_reservation: Component | None = None
    flat_done = reservation_flat_done = False
    reserve, expires = tariff.reserving
    tariff_id = tariff.tariff.id
    for whole in stretches:
        if whole.end < whole.start:
            raise TariffError("charging_periods", "a period ends before it starts")
        for usage in _split(whole, *_cuts(tariff, zone, whole, begin, energy)):
            state = _state(usage.start, zone, energy, Decimal((usage.start - begin).total_seconds()), usage)
            chosen: dict[str, Component] = {}
            if usage.reservation_s > 0:
                for dimension in ("TIME", "FLAT"):
                    pool = [c for c in (*expires, *reserve) if c.component.dimension == dimension] if \
                        reservation_expired else [c for c in reserve if c.component.dimension == dimension]  # fmt: skip
                    component = _pick(tuple(pool), state)
                    if component is not None:
                        chosen[dimension] = component
                if (component := chosen.get("TIME")) is not None:
                    volumes[component.index] = volumes.get(component.index, ZERO) + usage.reservation_s
                    priced["RESERVATION"] += usage.reservation_s
                    last_reservation = component
                if (component := chosen.get("FLAT")) is not None and not reservation_flat_done:
                    volumes[component.index] = ONE
                    reservation_flat_done = True
            if usage.energy_wh or usage.charging_s or usage.parking_s or not usage.reservation_s:
                if not flat_done and (component := _pick(tariff.charging["FLAT"], state)) is not None:
                    chosen["FLAT"] = component
                    volumes[component.index] = ONE
                    flat_done = True
                for dimension, volume in (("ENERGY", usage.energy_wh), ("TIME", usage.charging_s),
                                          ("PARKING_TIME", usage.parking_s)):  # fmt: skip
                    if volume <= 0:
                        continue
                    component = _pick(tariff.charging[dimension], state)
                    if component is None:
                        continue
                    chosen[dimension] = component
                    volumes[component.index] = volumes.get(component.index, ZERO) + volume
                    priced[dimension] += volume
                    if dimension == "ENERGY":
                        last_energy = component
                    else:
                        last_time = component
            energy += usage.energy_wh
            charging += usage.charging_s
            parking += usage.parking_s
            reserving += usage.reservation_s
            lines.append(Line(usage, chosen, tariff_id if chosen else None))
    # step_size, once per session, on the last priced period of each kind
    for component, total in ((last_energy, priced["ENERGY"]),
                             (last_time, priced[last_time.dimension] if last_time else ZERO),
                             (last_reservation, priced["RESERVATION"])):  # fmt: skip
        if component is not None:
            volumes[component.index] += _ceil_to(total, component.step) - total
    by_category = {name: [ZERO, ZERO] for name in CATEGORIES}
    for index, volume in volumes.items():
        component = tariff.components[index]
        excl = volume * component.price / component.unit
        incl = excl * (HUNDRED + component.vat) / HUNDRED if component.vat is not None else excl
        sums = by_category[component.category]
        sums[0] += excl
        sums[1] += incl
    total_excl = sum((v[0] for v in by_category.values()), ZERO)
    total_incl = sum((v[1] for v in by_category.values()), ZERO)
    total_excl, total_incl, limited = _limit(tariff, total_excl, total_incl)
    return Pricing(
        currency=tariff.tariff.currency,
        total=Price(total_excl, total_incl),
        by_category={k: Price(v[0], v[1]) for k, v in by_category.items()},
        volumes=volumes,
        lines=lines,
        energy_wh=energy,
        charging_s=charging,
        parking_s=parking,
        reservation_s=reserving,
        duration_s=Decimal((stretches[-1].end - begin).total_seconds()),
        limited_by=limited,
    )


def _limit(tariff: CompiledTariff, excl: Decimal, incl: Decimal) -> tuple[Decimal, Decimal, str | None]:
    """``min_price`` and ``max_price``, each bound applied to the amount it names."""
    limited = None
    for name, limit, sign in (("min_price", tariff.min_price, -1), ("max_price", tariff.max_price, 1)):
        if limit is None:
            continue
        new_excl = limit.excl_vat if (excl - limit.excl_vat) * sign > 0 else excl
        if limit.incl_vat is not None:
            new_incl = limit.incl_vat if (incl - limit.incl_vat) * sign > 0 else incl
        elif new_excl != excl:
            # No bound including VAT given: keep the session's VAT share.
            new_incl = new_excl * incl / excl if excl else new_excl
        else:
            new_incl = incl
        if (new_excl, new_incl) != (excl, incl):
            limited = name
        excl, incl = new_excl, new_incl
    return excl, incl, limited


def usages_from_periods(periods: Sequence[ChargingPeriod], end: datetime) -> list[Usage]:
    """OCPI ChargingPeriods (each ends where the next starts; the last at ``end``) as stretches."""
    ordered = sorted(periods, key=lambda p: p.start_date_time)
    usages = []
    for i, period in enumerate(ordered):
        stop = ordered[i + 1].start_date_time if i + 1 < len(ordered) else end
        dims = {d.type: d.volume for d in period.dimensions}
        usage = Usage(
            start=period.start_date_time,
            end=stop,
            energy_wh=dims.get("ENERGY", ZERO) * WH_PER_KWH,
            charging_s=dims.get("TIME", ZERO) * SECONDS_PER_HOUR,
            parking_s=dims.get("PARKING_TIME", ZERO) * SECONDS_PER_HOUR,
            reservation_s=dims.get("RESERVATION_TIME", ZERO) * SECONDS_PER_HOUR,
            max_power_kw=dims.get("MAX_POWER"),
            min_power_kw=dims.get("MIN_POWER"),
            current_a=dims.get("CURRENT", dims.get("MAX_CURRENT")),
        )
        power = dims.get("POWER", dims.get("MAX_POWER"))
        if power is None and usage.charging_s > 0:
            power = usage.energy_wh / usage.charging_s * SECONDS_PER_HOUR / WH_PER_KWH
        usage.power_kw = power
        usages.append(usage)
    return usages


def to_ocpi_periods(pricing: Pricing) -> list[ChargingPeriod]:
    """The priced stretches as OCPI ChargingPeriods (volumes as measured, 4 decimals)."""
    from cpo.tariffs.ocpi import CdrDimensionValue

    periods = []
    for line in pricing.lines:
        u = line.usage
        dims = []
        for kind, volume, unit in (("ENERGY", u.energy_wh, WH_PER_KWH), ("TIME", u.charging_s, SECONDS_PER_HOUR),
                                   ("PARKING_TIME", u.parking_s, SECONDS_PER_HOUR),
                                   ("RESERVATION_TIME", u.reservation_s, SECONDS_PER_HOUR)):  # fmt: skip
            if volume:
                dims.append(CdrDimensionValue(kind, (volume / unit).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)))  # type: ignore[arg-type]
        if u.max_power_kw is not None:
            dims.append(CdrDimensionValue("MAX_POWER", u.max_power_kw.quantize(FOUR_PLACES)))
        if u.min_power_kw is not None:
            dims.append(CdrDimensionValue("MIN_POWER", u.min_power_kw.quantize(FOUR_PLACES)))
        if not dims:
            dims.append(CdrDimensionValue("TIME", ZERO))
        periods.append(ChargingPeriod(u.start, dims, line.tariff_id))
    return periods
