"""Properties of the pricing engine over generated tariffs and sessions (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cpo.tariffs.engine import Usage, compile_tariff, price_session
from cpo.tariffs.ocpi import PriceComponent, Tariff, TariffElement, TariffRestrictions

ZONE = ZoneInfo("Europe/Brussels")
D = Decimal
prices = st.decimals(min_value=0, max_value=5, places=3, allow_nan=False, allow_infinity=False)
steps = st.sampled_from([1, 1, 100, 500, 60, 300, 900])
times = st.integers(0, 23 * 4 + 3).map(lambda q: f"{q // 4:02d}:{q % 4 * 15:02d}")


@st.composite
def restrictions(draw: st.DrawFn, kinds: frozenset[str]) -> TariffRestrictions | None:
    if draw(st.booleans()):
        return None
    r = TariffRestrictions()
    if "time" in kinds and draw(st.booleans()):
        r.start_time, r.end_time = draw(times), draw(times)
    if "time" in kinds and draw(st.booleans()):
        r.day_of_week = draw(st.lists(st.sampled_from(["MONDAY", "SATURDAY", "SUNDAY", "WEDNESDAY"]), min_size=1,
                                      unique=True))  # fmt: skip
    if "time" in kinds and draw(st.booleans()):
        r.min_duration = draw(st.integers(1, 4)) * 1800
    if "kwh" in kinds and draw(st.booleans()):
        r.max_kwh = D(draw(st.integers(1, 40)))
    if "power" in kinds and draw(st.booleans()):
        r.max_power = D(draw(st.integers(4, 30)))
    return r


ALL_KINDS = frozenset({"time", "kwh", "power"})


@st.composite
def tariffs(draw: st.DrawFn, dimensions: tuple[str, ...] = ("ENERGY", "TIME", "PARKING_TIME", "FLAT"),
            kinds: frozenset[str] = ALL_KINDS) -> Tariff:  # fmt: skip
    elements = []
    for _ in range(draw(st.integers(1, 4))):
        kinds = draw(st.lists(st.sampled_from(dimensions), min_size=1, max_size=len(dimensions), unique=True))
        components = [PriceComponent(kind, draw(prices), draw(steps), draw(st.sampled_from([None, D(21), D(6)])))
                      for kind in kinds]  # type: ignore[arg-type]  # fmt: skip
        elements.append(TariffElement(components, draw(restrictions(kinds))))
    return Tariff(id="T1", currency="EUR", elements=elements)


@st.composite
def sessions(draw: st.DrawFn) -> list[Usage]:
    day = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31)))
    at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 1439)))
    usages = []
    for _ in range(draw(st.integers(1, 6))):
        minutes = draw(st.integers(1, 240))
        end = at + timedelta(minutes=minutes)
        if draw(st.booleans()):
            kwh = D(draw(st.integers(0, 22 * minutes))) / 60
            usages.append(Usage(at, end, energy_wh=kwh * 1000, charging_s=D(minutes * 60),
                                power_kw=kwh * 60 / minutes))  # fmt: skip
        else:
            usages.append(Usage(at, end, parking_s=D(minutes * 60)))
        at = end
    return usages


def split(usages: list[Usage], where: list[float]) -> list[Usage]:
    """The same session with each stretch cut at a fraction of its length, volumes shared pro rata."""
    out = []
    for usage, fraction in zip(usages, where, strict=True):
        span = usage.end - usage.start
        cut = usage.start + timedelta(seconds=round(span.total_seconds() * fraction))
        if not usage.start < cut < usage.end:
            out.append(usage)
            continue
        share = D((cut - usage.start).total_seconds()) / D(span.total_seconds())
        first = Usage(usage.start, cut, usage.energy_wh * share, usage.charging_s * share, usage.parking_s * share,
                      power_kw=usage.power_kw)  # fmt: skip
        second = Usage(cut, usage.end, usage.energy_wh - first.energy_wh, usage.charging_s - first.charging_s,
                       usage.parking_s - first.parking_s, power_kw=usage.power_kw)  # fmt: skip
        out += [first, second]
    return out


@settings(max_examples=300, deadline=None)
@given(tariffs(), sessions(), st.lists(st.floats(0.01, 0.99), min_size=6, max_size=6))
def test_cutting_periods_finer_never_changes_the_total(tariff: Tariff, usages: list[Usage], where: list[float]) -> None:
    """step_size works on the session's totals, so how a session is cut into periods cannot move its price."""
    compiled = compile_tariff(tariff)
    whole = price_session(compiled, usages, ZONE)
    finer = price_session(compiled, split(usages, where[: len(usages)]), ZONE)
    assert abs(whole.total.excl_vat - finer.total.excl_vat) < D("1e-12")
    assert abs((whole.total.incl_vat or 0) - (finer.total.incl_vat or 0)) < D("1e-12")


@settings(max_examples=300, deadline=None)
@given(st.one_of(tariffs(dimensions=("ENERGY",), kinds=frozenset({"time"})),
                 tariffs(dimensions=("ENERGY",), kinds=frozenset({"kwh"}))),
       sessions(), st.integers(0, 5), st.integers(1, 20_000))  # fmt: skip
def test_with_energy_prices_only_more_energy_never_costs_less(
    tariff: Tariff, usages: list[Usage], which: int, more_wh: int
) -> None:
    """Prices by time of day, or by energy tiers. (Not both at once, nor by power: there more energy can
    legitimately cost less, e.g. a pricier first-5-kWh tier that opens at 01:15 is filled sooner.)"""
    compiled = compile_tariff(tariff)
    before = price_session(compiled, usages, ZONE).total.excl_vat
    usages[which % len(usages)].energy_wh += more_wh
    assert price_session(compiled, usages, ZONE).total.excl_vat >= before


NIGHT_AND_DAY = compile_tariff(Tariff(id="N", currency="EUR", elements=[
    TariffElement([PriceComponent("ENERGY", D("0.10"), 1)], TariffRestrictions(start_time="22:00", end_time="06:00")),
    TariffElement([PriceComponent("ENERGY", D("0.30"), 1)]),
]))  # fmt: skip
TRANSITIONS = [date(2024, 3, 31), date(2024, 10, 27), date(2025, 3, 30), date(2025, 10, 26)]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from(TRANSITIONS), st.dates(date(2024, 1, 1), date(2026, 12, 31))),
       st.integers(0, 7 * 60), st.integers(1, 7 * 60), st.integers(1, 30_000))  # fmt: skip
def test_a_night_window_past_midnight_holds_across_dst(day: date, offset: int, minutes: int, wh: int) -> None:
    """A session wholly inside 22:00-06:00 local time pays the night rate, whatever the date's clock change."""
    night_start = datetime(day.year, day.month, day.day, 22, tzinfo=ZONE).astimezone(UTC)
    night_end = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZONE).replace(hour=6).astimezone(UTC)
    start = night_start + timedelta(minutes=offset)
    end = min(start + timedelta(minutes=minutes), night_end)
    if end <= start:
        return
    usage = Usage(start, end, energy_wh=D(wh), charging_s=D((end - start).total_seconds()))
    assert price_session(NIGHT_AND_DAY, [usage], ZONE).total.excl_vat == D(wh) * D("0.10") / 1000
    # and the same energy by day, 10:00 local plus the same offset, pays the day rate
    day_start = datetime(day.year, day.month, day.day, 10, tzinfo=ZONE).astimezone(UTC) + timedelta(
        minutes=offset % 300
    )
    usage = Usage(day_start, day_start + timedelta(minutes=60), energy_wh=D(wh), charging_s=D(3600))
    assert price_session(NIGHT_AND_DAY, [usage], ZONE).total.excl_vat == D(wh) * D("0.30") / 1000


def test_a_session_across_the_window_edge_pays_each_side_its_rate() -> None:
    """21:30-22:30 local, 10 kWh evenly: 5 kWh by day, 5 kWh by night, on the night the clocks go back too."""
    for day in (date(2024, 6, 12), date(2024, 10, 26)):
        start = datetime(day.year, day.month, day.day, 21, 30, tzinfo=ZONE).astimezone(UTC)
        usage = Usage(start, start + timedelta(hours=1), energy_wh=D(10_000), charging_s=D(3600))
        assert price_session(NIGHT_AND_DAY, [usage], ZONE).total.excl_vat == D("2.00")
