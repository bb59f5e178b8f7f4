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

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from itertools import repeat
from operator import attrgetter
from zoneinfo import ZoneInfo

from cpo.tariffs.ocpi import ChargingPeriod, Price, PriceComponent, Tariff, TariffRestrictions

ZERO = Decimal(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
ONE_US = timedelta(microseconds=1)
US_PER_MINUTE = 60_000_000
US_PER_DAY = 86_400_000_000
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
    start_day: int | None
    """Dates as days since 1970-01-01 (local calendar)."""
    end_day: int | None
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
    min_us: int | None
    max_us: int | None

    @classmethod
    def compile(cls, r: TariffRestrictions) -> Rule:
        return cls(
            start_min=_minutes(r.start_time) if r.start_time else None,
            end_min=_minutes(r.end_time) if r.end_time else None,
            start_day=date.fromisoformat(r.start_date).toordinal() - EPOCH_ORDINAL if r.start_date else None,
            end_day=date.fromisoformat(r.end_date).toordinal() - EPOCH_ORDINAL if r.end_date else None,
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
            min_us=r.min_duration * 1_000_000 if r.min_duration is not None else None,
            max_us=r.max_duration * 1_000_000 if r.max_duration is not None else None,
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
        if self.start_day is not None and state.day < self.start_day:
            return False
        if self.end_day is not None and state.day >= self.end_day:
            return False
        if self.min_wh is not None and state.energy_wh < self.min_wh:
            return False
        if self.max_wh is not None and state.energy_wh >= self.max_wh:
            return False
        if self.min_us is not None and state.elapsed_us < self.min_us:
            return False
        if self.max_us is not None and state.elapsed_us >= self.max_us:
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

    def test(self) -> Callable[[int, int, int, Decimal, int, Decimal | None, Decimal | None], bool]:
        """This rule as one generated function of (minute, weekday, day, energy Wh, elapsed µs, power, current).

        Only the checks the rule has are in it; the bounds are bound as constants, no text from the tariff
        enters the source."""
        checks: list[str] = []
        if self.start_min is not None or self.end_min is not None:
            start = self.start_min or 0
            end = self.end_min if self.end_min else 1440
            if start < end:
                checks.append(f"{start} <= m < {end}")
            elif start != end:
                checks.append(f"(m >= {start} or m < {end})")
        if self.days is not None:
            checks.append("wd in DAYS")
        if self.start_day is not None:
            checks.append(f"d >= {self.start_day}")
        if self.end_day is not None:
            checks.append(f"d < {self.end_day}")
        if self.min_wh is not None:
            checks.append("e >= MIN_WH")
        if self.max_wh is not None:
            checks.append("e < MAX_WH")
        if self.min_us is not None:
            checks.append(f"el >= {self.min_us}")
        if self.max_us is not None:
            checks.append(f"el < {self.max_us}")
        if self.min_kw is not None or self.max_kw is not None:
            checks.append("p is not None")
            checks += ["p >= MIN_KW"] if self.min_kw is not None else []
            checks += ["p < MAX_KW"] if self.max_kw is not None else []
        if self.min_current is not None or self.max_current is not None:
            checks.append("c is not None")
            checks += ["c >= MIN_A"] if self.min_current is not None else []
            checks += ["c < MAX_A"] if self.max_current is not None else []
        constants = {"DAYS": self.days, "MIN_WH": self.min_wh, "MAX_WH": self.max_wh, "MIN_KW": self.min_kw,
                     "MAX_KW": self.max_kw, "MIN_A": self.min_current, "MAX_A": self.max_current}  # fmt: skip
        source = f"def test(m, wd, d, e, el, p, c):\n    return {' and '.join(checks) or 'True'}\n"
        exec(compile(source, "<tariff rule>", "exec"), constants)  # noqa: S102 - built from numbers only
        return constants["test"]  # type: ignore[return-value]

    def cannot_match(self) -> str | None:
        """Why no moment could ever satisfy this rule, if so."""
        amounts = (self.min_wh, self.max_wh, self.min_kw, self.max_kw, self.min_current, self.max_current)
        if any(a is not None and a < 0 for a in amounts):
            return "kWh, power and current bounds cannot be negative"
        if self.start_day is not None and self.end_day is not None and self.end_day <= self.start_day:
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
    category: str
    """energy, time, parking, fixed or reservation: the OCPI total it adds to."""
    unit: Decimal
    """What the price is per, in the engine's units: 1000 Wh, 3600 s, or 1 fee."""
    with_vat: Decimal
    """1 + VAT / 100 (exact: a VAT percentage has finitely many decimals); 1 when no VAT applies."""

    @classmethod
    def make(
        cls, index: int, dimension: str, price: Decimal, vat: Decimal | None, step: int, element: int, reservation: bool
    ) -> Component:
        category = "reservation" if reservation else \
            {"ENERGY": "energy", "TIME": "time", "PARKING_TIME": "parking", "FLAT": "fixed"}[dimension]  # fmt: skip
        unit = WH_PER_KWH if dimension == "ENERGY" else ONE if dimension == "FLAT" else SECONDS_PER_HOUR
        with_vat = (HUNDRED + vat) / HUNDRED if vat is not None else ONE
        return cls(index, dimension, price, vat, step, element, reservation, category, unit, with_vat)


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
    boundary_us: tuple[int, ...]
    """The same minutes of the day, in µs."""
    duration_bounds: tuple[int, ...]
    energy_bounds: tuple[Decimal, ...]
    min_price: Price | None
    max_price: Price | None
    plain: tuple[PlainElement, ...] = ()
    """Elements that price charging and parking, in order, each with its test and its components."""
    kin: tuple[tuple[Component, ...], ...] = ()
    """Per component, the components whose volumes step_size rounds together with it (same dimension and
    reservation or not)."""
    static: bool = True
    """No restriction reads energy, power or current: between two time cuts every stretch prices alike."""
    dated: bool = False
    """Some restriction reads the date (start_date or end_date)."""
    choices: dict[tuple[int, int, int, int], tuple[Component | None, ...]] = field(default_factory=dict)
    """Memo of a static tariff's choice per (weekday, slot of the day, day if dated, slot of the duration)."""


RuleTest = Callable[[int, int, int, Decimal, int, Decimal | None, Decimal | None], bool]
PlainElement = tuple[RuleTest | None, "Component | None", "Component | None", "Component | None", "Component | None"]
"""An element that prices charging or parking: its test (None: always) and its energy, time, parking, flat."""


def compile_tariff(tariff: Tariff) -> CompiledTariff:
    """Check and compile a tariff. Raises ``TariffError`` for one that cannot be priced as meant."""
    components: list[Component] = []
    charging: dict[str, list[Choice]] = {"ENERGY": [], "TIME": [], "PARKING_TIME": [], "FLAT": []}
    reserve: list[Choice] = []
    expires: list[Choice] = []
    minutes: set[int] = set()
    durations: set[int] = set()
    energies: set[Decimal] = set()
    plain: list[PlainElement] = []
    for e_index, element in enumerate(tariff.elements):
        rule = Rule.compile(element.restrictions) if element.restrictions else None
        offered: dict[str, Component] = {}
        if rule is not None:
            if (why := rule.cannot_match()) is not None:
                raise TariffError(f"elements[{e_index}].restrictions", f"can never apply: {why}")
            for m in (rule.start_min, rule.end_min):
                if m is not None:
                    minutes.add(m)
            if rule.days is not None or rule.start_day is not None or rule.end_day is not None:
                minutes.add(0)
            durations.update(s * 1_000_000 for s in (rule.min_s, rule.max_s) if s)
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
            made = Component.make(len(components), component.type, component.price, component.vat, component.step_size,
                             e_index, reservation)  # fmt: skip
            components.append(made)
            choice = Choice(rule, made)
            if not reservation:
                charging[component.type].append(choice)
                offered[component.type] = made
            elif rule is not None and rule.reservation == "RESERVATION":
                reserve.append(choice)
            else:
                expires.append(choice)
        if offered:
            plain.append((rule.test() if rule is not None else None, offered.get("ENERGY"), offered.get("TIME"),
                          offered.get("PARKING_TIME"), offered.get("FLAT")))  # fmt: skip
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
        boundary_us=tuple(m * US_PER_MINUTE for m in sorted(minutes)),
        duration_bounds=tuple(sorted(durations)),
        energy_bounds=tuple(sorted(energies)),
        min_price=tariff.min_price,
        max_price=tariff.max_price,
        plain=tuple(plain),
        kin=tuple(
            tuple(o for o in components if (o.dimension, o.reservation) == (c.dimension, c.reservation))
            for c in components
        ),
        dated=any(
            e.restrictions is not None and (e.restrictions.start_date or e.restrictions.end_date)
            for e in tariff.elements
        ),
        static=not energies
        and all(
            rule is None
            or (rule.min_kw is None and rule.max_kw is None and rule.min_current is None and rule.max_current is None)
            for rule in (Rule.compile(e.restrictions) if e.restrictions else None for e in tariff.elements)
        ),
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


@dataclass(slots=True)
class State:
    """The moment a stretch starts: what restrictions read (local time of day, weekday and day number)."""

    minute: int
    weekday: int
    day: int
    energy_wh: Decimal
    elapsed_us: int
    power_kw: Decimal | None
    current_a: Decimal | None


Chosen = tuple["Component | None", "Component | None", "Component | None", "Component | None"]
"""The components that priced a stretch: energy, time (or reservation time), parking, flat fee."""
Line = tuple[Usage, Chosen, "str | None"]
"""A priced stretch: the usage, the components that priced it, and the tariff (None when nothing did)."""
NOTHING: Chosen = (None, None, None, None)


@dataclass(slots=True)
class Pricing:
    """A session's price. Amounts exact; ``rounded`` gives them to 4 decimals."""

    currency: str
    total: Price
    sums: dict[str, tuple[Decimal, Decimal]]
    """Per OCPI total (energy, time, parking, fixed, reservation) present: (excl. VAT, incl. VAT)."""
    volumes: dict[int, Decimal]
    """Billed volume per component index (Wh, seconds, or 1 for a FLAT fee), step_size included."""
    lines: list[Line]
    energy_wh: Decimal
    duration_s: Decimal
    limited_by: str | None = None
    """``min_price`` or ``max_price`` when one of them set the total."""

    @property
    def charging_s(self) -> Decimal:
        return sum((line[0].charging_s for line in self.lines), ZERO)

    @property
    def parking_s(self) -> Decimal:
        return sum((line[0].parking_s for line in self.lines), ZERO)

    @property
    def reservation_s(self) -> Decimal:
        return sum((line[0].reservation_s for line in self.lines), ZERO)

    def rounded(self, amount: Decimal) -> Decimal:
        return amount.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)

    def cost(self, category: str) -> Price:
        """The cost of one OCPI total (energy, time, parking, fixed, reservation); zero when none."""
        excl, incl = self.sums.get(category, (ZERO, ZERO))
        return Price(excl, incl)

    @property
    def by_category(self) -> dict[str, Price]:
        return {name: self.cost(name) for name in self.sums}


def _ceil_to(value: Decimal, step: int) -> Decimal:
    """The smallest multiple of ``step`` (a whole number of units) that is at least ``value``."""
    if value <= 0:
        return ZERO
    if step <= 1 and value.to_integral_value(ROUND_CEILING) == value:
        return value  # already whole units (the common case: meters count whole Wh)
    # Pro-rata shares leave traces at the 28th digit (1650 Wh may sum to 1650.0000...01): no meter reads
    # a billionth of a Wh or a second, so that far down the value is settled first.
    settled = value.quantize(BILLIONTH)
    if step <= 1:
        return settled.to_integral_value(ROUND_CEILING)
    return (settled / step).to_integral_value(ROUND_CEILING) * step


def _us(moment: datetime) -> int:
    return (moment - EPOCH) // ONE_US


def _at(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


_DAY_OFFSETS: dict[ZoneInfo, dict[int, int | None]] = {}


def _day_offset(zone: ZoneInfo, day: int) -> int | None:
    """The zone's UTC offset in µs through a whole UTC day, or None when its clocks change that day."""
    days = _DAY_OFFSETS.get(zone)
    if days is None:
        days = _DAY_OFFSETS[zone] = {}
    elif day in days:
        return days[day]
    if len(days) > 50_000:
        days.clear()
    first = _at(day * US_PER_DAY).astimezone(zone).utcoffset()
    last = _at((day + 1) * US_PER_DAY - 1).astimezone(zone).utcoffset()
    offset = days[day] = first // ONE_US if first is not None and first == last else None
    return offset


class _Clock:
    """Local wall time during one session, in microseconds: a fixed offset when no clock change falls inside."""

    __slots__ = ("fixed", "offset", "zone")

    def __init__(self, zone: ZoneInfo, start: int, end: int) -> None:
        self.zone = zone
        first_day, last_day = start // US_PER_DAY, end // US_PER_DAY
        offset = _day_offset(zone, first_day)
        if offset is not None and first_day != last_day:
            if last_day - first_day > 14:
                offset = None
            else:
                for day in range(first_day + 1, last_day + 1):
                    if _day_offset(zone, day) != offset:
                        offset = None
                        break
        self.fixed = offset is not None
        self.offset = offset or 0

    def local(self, us: int) -> int:
        if self.fixed:
            return us + self.offset
        offset = _at(us).astimezone(self.zone).utcoffset() or timedelta(0)
        return us + offset // ONE_US

    def utc_of(self, local_day: int, minute: int) -> tuple[int, ...]:
        """The UTC moments a local day and minute occur at (none in a spring gap, two in an autumn repeat)."""
        wall = local_day * US_PER_DAY + minute * US_PER_MINUTE
        if self.fixed:
            return (wall - self.offset,)
        naive = datetime(1970, 1, 1) + timedelta(microseconds=wall)  # noqa: DTZ001 - a wall time, zoned below
        found = set()
        for fold in (0, 1):
            moment = _us(naive.replace(tzinfo=self.zone, fold=fold).astimezone(UTC))
            if self.local(moment) == wall:
                found.add(moment)
        return tuple(found)


def _session_cuts(tariff: CompiledTariff, clock: _Clock, start: int, end: int) -> list[int]:
    """Every moment of the session where a time-based restriction may start or stop applying."""
    found: set[int] = set()
    if tariff.boundary_minutes:
        if clock.fixed:
            first_day, last_day = (start + clock.offset) // US_PER_DAY, (end + clock.offset) // US_PER_DAY
        else:
            first_day, last_day = clock.local(start) // US_PER_DAY, clock.local(end) // US_PER_DAY
        if clock.fixed:
            bounds = tariff.boundary_us
            if first_day == last_day and not tariff.duration_bounds:
                # one local day: the tariff's minutes between the session's start and end, already in order
                base = first_day * US_PER_DAY
                low = bisect_right(bounds, start + clock.offset - base)
                high = bisect_left(bounds, end + clock.offset - base)
                return [base - clock.offset + micros for micros in bounds[low:high]]
            for day in range(first_day, last_day + 1):
                base = day * US_PER_DAY - clock.offset
                for micros in bounds:
                    if start < base + micros < end:
                        found.add(base + micros)
        else:
            for day in range(first_day, last_day + 1):
                for minute in tariff.boundary_minutes:
                    for moment in clock.utc_of(day, minute):
                        if start < moment < end:
                            found.add(moment)
    for micros in tariff.duration_bounds:
        if start < (moment := start + micros) < end:
            found.add(moment)
    return sorted(found)


def _energy_cuts(
    tariff: CompiledTariff, start: int, end: int, usage: Usage, energy_before: Decimal
) -> list[tuple[int, Decimal | None]]:
    """Where inside a stretch the session's energy crosses a bound: (moment, the stretch's energy before it)."""
    found: list[tuple[int, Decimal | None]] = []
    for bound in tariff.energy_bounds:
        if energy_before < bound < energy_before + usage.energy_wh:
            within = bound - energy_before
            moment = start + int((end - start) * within / usage.energy_wh)
            if start < moment < end:
                found.append((moment, within))
    return found


def _split(usage: Usage, start: int, end: int, cuts: Sequence[tuple[int, Decimal | None]]) -> list[tuple[Usage, int]]:
    """The stretch cut at ``cuts``, volumes shared pro rata (the last piece takes the remainder), each piece with
    its start in µs. A cut at an energy bound carries the stretch's energy before it: that share is exact."""
    span = Decimal(end - start)
    pieces: list[tuple[Usage, int]] = []
    energy, charging, parking, reserving = usage.energy_wh, usage.charging_s, usage.parking_s, usage.reservation_s
    given_e = given_c = given_p = given_r = ZERO
    left, left_us = usage.start, start
    power, current, high, low = usage.power_kw, usage.current_a, usage.max_power_kw, usage.min_power_kw
    for moment, energy_before in cuts:
        share = Decimal(moment - start) / span
        upto_e = energy_before if energy_before is not None else (energy * share if energy else ZERO)
        upto_c = charging * share if charging else ZERO
        upto_p = parking * share if parking else ZERO
        upto_r = reserving * share if reserving else ZERO
        right = usage.start + timedelta(microseconds=moment - start)
        pieces.append((Usage(left, right, upto_e - given_e, upto_c - given_c, upto_p - given_p, upto_r - given_r,
                             power, current, high, low), left_us))  # fmt: skip
        given_e, given_c, given_p, given_r = upto_e, upto_c, upto_p, upto_r
        left, left_us = right, moment
    pieces.append((Usage(left, usage.end, energy - given_e, charging - given_c, parking - given_p,
                         reserving - given_r, power, current, high, low), left_us))  # fmt: skip
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
    """Price a session from its stretches, in order, not overlapping. ``zone`` is the site's time zone.

    Volumes are taken as given (zero or more). This is the hot path of CDR issuing, so it is written for speed:
    between two time cuts, a tariff whose rules read no energy, power or current prices every stretch alike.
    """
    zone = _zone(zone)
    stretches = usages if isinstance(usages, list) else list(usages)
    if not stretches:
        raise TariffError("charging_periods", "a session has at least one period")
    begin = session_start or stretches[0].start
    begin_us = (begin - EPOCH) // ONE_US
    last_end = stretches[-1].end
    end_us = (last_end - EPOCH) // ONE_US
    clock = _Clock(zone, begin_us, end_us)
    fixed, offset = clock.fixed, clock.offset
    timed = _session_cuts(tariff, clock, begin_us, end_us) if tariff.boundary_minutes or tariff.duration_bounds \
        else []  # fmt: skip
    if tariff.static and not any(map(_RESERVATION, stretches)):
        return _price_static(tariff, stretches, clock, begin, begin_us, end_us, timed)
    n_timed = len(timed)
    next_cut = timed[0] if timed else end_us + 1
    cut_index = 0
    energy_bounds = tariff.energy_bounds
    plain = tariff.plain
    static = tariff.static
    tariff_id = tariff.tariff.id
    vol = [ZERO] * len(tariff.components)
    lines: list[Line] = []
    append = lines.append
    energy = ZERO
    last_energy: Component | None = None
    last_time: Component | None = None
    last_reservation: Component | None = None
    flat_done = reservation_flat_done = False
    previous_end: datetime | None = None
    stop_us = begin_us
    choice: tuple[Component | None, Component | None, Component | None, Component | None] | None = None
    choice_cut = -1
    for whole in stretches:
        # stretches usually follow on: the last one's end is this one's start
        start_us = stop_us if whole.start == previous_end else (whole.start - EPOCH) // ONE_US
        previous_end = whole.end
        stop_us = end_us if previous_end is last_end else (previous_end - EPOCH) // ONE_US
        if stop_us < start_us:
            raise TariffError("charging_periods", "a period ends before it starts")
        while next_cut <= start_us:
            cut_index += 1
            next_cut = timed[cut_index] if cut_index < n_timed else end_us + 1
        cuts: list[tuple[int, Decimal | None]] | None = None
        if next_cut < stop_us:
            cuts = []
            i = cut_index
            while i < n_timed and timed[i] < stop_us:
                cuts.append((timed[i], None))
                i += 1
        if energy_bounds and whole.energy_wh and (more := _energy_cuts(tariff, start_us, stop_us, whole, energy)):
            cuts = sorted({**dict(cuts or []), **dict(more)}.items())
        for usage, at in _split(whole, start_us, stop_us, cuts) if cuts else ((whole, start_us),):
            e_wh, c_s, p_s, r_s = usage.energy_wh, usage.charging_s, usage.parking_s, usage.reservation_s
            chosen_e = chosen_t = chosen_p = chosen_f = None
            if static and not r_s:
                # one choice per slot between two time cuts
                while next_cut <= at:
                    cut_index += 1
                    next_cut = timed[cut_index] if cut_index < n_timed else end_us + 1
                if choice is None or choice_cut != cut_index:
                    choice, choice_cut = _static_choice(tariff, clock, at, begin_us), cut_index
                offer_e, offer_t, offer_p, offer_f = choice
                if e_wh and offer_e is not None:
                    chosen_e = last_energy = offer_e
                    vol[offer_e.index] += e_wh
                if c_s and offer_t is not None:
                    chosen_t = last_time = offer_t
                    vol[offer_t.index] += c_s
                if p_s and offer_p is not None:
                    chosen_p = last_time = offer_p
                    vol[offer_p.index] += p_s
                if not flat_done and offer_f is not None:
                    chosen_f, flat_done = offer_f, True
                    vol[offer_f.index] = ONE
            else:
                local = at + offset if fixed else clock.local(at)
                day = local // US_PER_DAY
                minute, weekday, elapsed = local % US_PER_DAY // US_PER_MINUTE, (day + 3) % 7, at - begin_us
                if r_s:
                    state = State(minute, weekday, day, energy, elapsed, usage.power_kw, usage.current_a)
                    chosen_t, chosen_f, last_reservation, reservation_flat_done = _reserve(
                        tariff, state, r_s, reservation_expired, vol, last_reservation, reservation_flat_done
                    )
                if e_wh or c_s or p_s or not r_s:
                    want_e, want_t, want_p, want_f = bool(e_wh), bool(c_s), bool(p_s), not flat_done
                    for test, offer_e, offer_t, offer_p, offer_f in plain:
                        if not ((want_e and offer_e) or (want_t and offer_t) or (want_p and offer_p)
                                or (want_f and offer_f)):  # fmt: skip
                            continue
                        if test is not None and not test(minute, weekday, day, energy, elapsed, usage.power_kw,
                                                         usage.current_a):  # fmt: skip
                            continue
                        if want_e and offer_e is not None:
                            want_e, chosen_e = False, offer_e
                            vol[offer_e.index] += e_wh
                        if want_t and offer_t is not None:
                            want_t, chosen_t = False, offer_t
                            vol[offer_t.index] += c_s
                        if want_p and offer_p is not None:
                            want_p, chosen_p = False, offer_p
                            vol[offer_p.index] += p_s
                        if want_f and offer_f is not None:
                            want_f, flat_done, chosen_f = False, True, offer_f
                            vol[offer_f.index] = ONE
                        if not (want_e or want_t or want_p or want_f):
                            break
                    if chosen_e is not None:
                        last_energy = chosen_e
                    if chosen_p is not None:
                        last_time = chosen_p
                    elif chosen_t is not None and not chosen_t.reservation:
                        last_time = chosen_t
            if e_wh:
                energy += e_wh
            if chosen_e is None and chosen_t is None and chosen_p is None and chosen_f is None:
                append((usage, NOTHING, None))
            else:
                append((usage, (chosen_e, chosen_t, chosen_p, chosen_f), tariff_id))
    # step_size, once per session, on the last priced period of each kind: the priced volume of a kind is
    # the sum over the components of that kind
    for last in (last_energy, last_time, last_reservation):
        if last is not None:
            total = sum((vol[c.index] for c in tariff.kin[last.index]), ZERO)
            vol[last.index] += _ceil_to(total, last.step) - total
    volumes = {i: v for i, v in enumerate(vol) if v}
    return _total(tariff, volumes, lines, energy, Decimal(end_us - begin_us) / 1_000_000)


def _static_choice(
    tariff: CompiledTariff, clock: _Clock, at: int, begin: int
) -> tuple[Component | None, Component | None, Component | None, Component | None]:
    """A static tariff's choice at a moment, memoised: it depends only on the weekday, where the time of day
    falls between the tariff's minutes, the date (if any rule reads it) and where the duration falls."""
    local = clock.local(at)
    day = local // US_PER_DAY
    key = ((day + 3) % 7, bisect_right(tariff.boundary_us, local % US_PER_DAY), day if tariff.dated else 0,
           bisect_right(tariff.duration_bounds, at - begin))  # fmt: skip
    found = tariff.choices.get(key)
    if found is None:
        if len(tariff.choices) > 10_000:
            tariff.choices.clear()
        found = tariff.choices[key] = _choose(tariff.plain, clock, at, begin, ZERO)
    return found  # type: ignore[return-value]


def _choose(
    plain: tuple[PlainElement, ...], clock: _Clock, at: int, begin: int, energy: Decimal
) -> tuple[Component | None, Component | None, Component | None, Component | None]:
    """Per dimension (energy, time, parking, flat), the first element offering it whose restrictions match."""
    local = clock.local(at)
    day = local // US_PER_DAY
    minute, weekday, elapsed = local % US_PER_DAY // US_PER_MINUTE, (day + 3) % 7, at - begin
    found_e = found_t = found_p = found_f = None
    for test, offer_e, offer_t, offer_p, offer_f in plain:
        if test is not None and not test(minute, weekday, day, energy, elapsed, None, None):
            continue
        if found_e is None:
            found_e = offer_e
        if found_t is None:
            found_t = offer_t
        if found_p is None:
            found_p = offer_p
        if found_f is None:
            found_f = offer_f
    return found_e, found_t, found_p, found_f


_RESERVATION = attrgetter("reservation_s")
_ENERGY = attrgetter("energy_wh")
_CHARGING = attrgetter("charging_s")
_PARKING = attrgetter("parking_s")


def _price_static(
    tariff: CompiledTariff, stretches: list[Usage], clock: _Clock, begin: datetime, begin_us: int, end_us: int,
    timed: list[int],
) -> Pricing:  # fmt: skip
    """Price a session under a tariff whose rules read only time: the stretches between two time cuts form a
    slot that one choice prices, so volumes are summed per slot."""
    slots: list[tuple[int, list[Usage]]] = []  # (slot start in µs, its stretches)
    cut_moments = [begin + timedelta(microseconds=c - begin_us) for c in timed]
    n_cuts = len(timed)
    cut_index = 0
    next_cut = cut_moments[0] if n_cuts else None
    group: list[Usage] = []
    slots.append((begin_us, group))
    for whole in stretches:
        if next_cut is not None and next_cut < whole.end:
            # a cut lands inside (or at the start of) this stretch: it is cut, and each piece joins its slot
            start_us, stop_us = (whole.start - EPOCH) // ONE_US, (whole.end - EPOCH) // ONE_US
            inside = [(c, None) for c in timed[cut_index:] if start_us < c < stop_us]
            pieces = _split(whole, start_us, stop_us, inside) if inside else [(whole, start_us)]
            for piece, _ in pieces:
                while next_cut is not None and next_cut <= piece.start:
                    cut_index += 1
                    next_cut = cut_moments[cut_index] if cut_index < n_cuts else None
                    group = []
                    slots.append((timed[cut_index - 1], group))
                group.append(piece)
        else:
            group.append(whole)
    vol = [ZERO] * len(tariff.components)
    lines: list[Line] = []
    tariff_id = tariff.tariff.id
    last_energy: Component | None = None
    last_time: Component | None = None
    flat_done = False
    total_energy = priced_energy = priced_time = priced_parking = ZERO
    for at, members in slots:
        if not members:
            continue
        choice = _static_choice(tariff, clock, max(at, begin_us), begin_us)
        offer_e, offer_t, offer_p, offer_f = choice
        energy = sum(map(_ENERGY, members), ZERO)
        total_energy += energy
        if offer_e is not None and energy:
            vol[offer_e.index] += energy
            priced_energy += energy
            last_energy = offer_e
        if offer_t is not None and (charging := sum(map(_CHARGING, members), ZERO)):
            vol[offer_t.index] += charging
            priced_time += charging
        if offer_p is not None and (parking := sum(map(_PARKING, members), ZERO)):
            vol[offer_p.index] += parking
            priced_parking += parking
        for member in reversed(members) if offer_p is not None or offer_t is not None else ():
            # the slot's last priced time: parking after charging
            if offer_p is not None and member.parking_s:
                last_time = offer_p
                break
            if offer_t is not None and member.charging_s:
                last_time = offer_t
                break
        if not flat_done and offer_f is not None:
            vol[offer_f.index] = ONE
            flat_done = True
        if offer_e is None and offer_t is None and offer_p is None and offer_f is None:
            lines.extend(zip(members, repeat(NOTHING), repeat(None)))
        else:
            lines.extend(zip(members, repeat(choice), repeat(tariff_id)))
    if last_energy is not None:
        vol[last_energy.index] += _ceil_to(priced_energy, last_energy.step) - priced_energy
    if last_time is not None:
        total = priced_time if last_time.dimension == "TIME" else priced_parking
        vol[last_time.index] += _ceil_to(total, last_time.step) - total
    volumes = {i: v for i, v in enumerate(vol) if v}
    return _total(tariff, volumes, lines, total_energy, Decimal(end_us - begin_us) / 1_000_000)


_ZONES: dict[str, ZoneInfo] = {}


def _zone(zone: ZoneInfo | str) -> ZoneInfo:
    if not isinstance(zone, str):
        return zone
    found = _ZONES.get(zone)
    if found is None:
        found = _ZONES[zone] = ZoneInfo(zone)
    return found


def _reserve(
    tariff: CompiledTariff, state: State, seconds: Decimal, expired: bool, volumes: list[Decimal],
    last: Component | None, flat_done: bool,
) -> tuple[Component | None, Component | None, Component | None, bool]:  # fmt: skip
    """Price a reservation stretch: RESERVATION elements, or for an expired one RESERVATION_EXPIRES first."""
    reserve, expires = tariff.reserving
    pool = (*expires, *reserve) if expired else reserve
    time_ = _pick(tuple(c for c in pool if c.component.dimension == "TIME"), state)
    flat = _pick(tuple(c for c in pool if c.component.dimension == "FLAT"), state)
    if time_ is not None:
        volumes[time_.index] += seconds
        last = time_
    if flat is not None and not flat_done:
        volumes[flat.index] = ONE
        flat_done = True
    return time_, flat, last, flat_done


def _total(
    tariff: CompiledTariff, volumes: dict[int, Decimal], lines: list[Line], energy: Decimal, duration: Decimal
) -> Pricing:
    components = tariff.components
    sums: dict[str, tuple[Decimal, Decimal]] = {}
    total_excl = total_incl = ZERO
    for index, volume in volumes.items():
        component = components[index]
        excl = volume * component.price / component.unit
        incl = excl * component.with_vat
        total_excl += excl
        total_incl += incl
        pair = sums.get(component.category)
        sums[component.category] = (excl, incl) if pair is None else (pair[0] + excl, pair[1] + incl)
    limited = None
    if tariff.min_price is not None or tariff.max_price is not None:
        total_excl, total_incl, limited = _limit(tariff, total_excl, total_incl)
    return Pricing(tariff.tariff.currency, Price(total_excl, total_incl), sums, volumes, lines, energy, duration,
                   limited)  # fmt: skip


def _limit(tariff: CompiledTariff, excl: Decimal, incl: Decimal) -> tuple[Decimal, Decimal, str | None]:
    """``min_price`` and ``max_price``, each bound applied to the amount it names. Without a bound including
    VAT, the session's own VAT share is kept."""
    limited = None
    low, high = tariff.min_price, tariff.max_price
    if low is not None:
        new_excl = low.excl_vat if excl < low.excl_vat else excl
        if low.incl_vat is not None:
            new_incl = low.incl_vat if incl < low.incl_vat else incl
        else:
            new_incl = (new_excl * incl / excl if excl else new_excl) if new_excl != excl else incl
        if new_excl != excl or new_incl != incl:
            limited, excl, incl = "min_price", new_excl, new_incl
    if high is not None:
        new_excl = high.excl_vat if excl > high.excl_vat else excl
        if high.incl_vat is not None:
            new_incl = high.incl_vat if incl > high.incl_vat else incl
        else:
            new_incl = (new_excl * incl / excl if excl else new_excl) if new_excl != excl else incl
        if new_excl != excl or new_incl != incl:
            limited, excl, incl = "max_price", new_excl, new_incl
    return excl, incl, limited


def usages_from_periods(periods: Sequence[ChargingPeriod], end: datetime) -> list[Usage]:
    """OCPI ChargingPeriods (each ends where the next starts; the last at ``end``) as stretches."""
    ordered = sorted(periods, key=lambda p: p.start_date_time)
    usages = []
    for i, period in enumerate(ordered):
        stop = ordered[i + 1].start_date_time if i + 1 < len(ordered) else end
        dims = {d.type: d.volume for d in period.dimensions}
        for kind in ("ENERGY", "TIME", "PARKING_TIME", "RESERVATION_TIME"):
            if dims.get(kind, ZERO) < 0:
                raise TariffError(f"charging_periods[{i}]", f"{kind} is negative: energy fed back is not priced")
        if stop < period.start_date_time:
            raise TariffError(f"charging_periods[{i}]", "starts after the session ends")
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
    for u, _, tariff_id in pricing.lines:
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
        periods.append(ChargingPeriod(u.start, dims, tariff_id))
    return periods


# --- native: everything below this line stays out of the compiled build ---

NATIVE = False
"""Whether the mypyc-compiled engine (``python -m cpo.tariffs.native build``) is in use."""


def _load_native() -> bool:
    """Swap in the compiled engine when one was built from exactly this source."""
    import importlib
    import os

    from cpo.tariffs.native import compiled_source, digest

    if os.environ.get("CPO_TARIFFS_PURE") == "1":
        return False
    try:
        native = importlib.import_module("cpo.tariffs._engine_native")
    except ImportError:
        return False
    if getattr(native, "SOURCE_DIGEST", None) != digest(compiled_source()):
        return False  # built from another version of this file
    globals().update({k: v for k, v in vars(native).items() if not k.startswith("__") and k != "SOURCE_DIGEST"})
    return True


NATIVE = _load_native()
