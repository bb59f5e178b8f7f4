"""A session's stretches from what its station reported: energy register readings and charging states. Pure.

- Energy: the register read at each sample, straight between samples (the register at a state change is
  found on that line). Before the first reading the session's start register holds; after the last, its stop.
- Charging or parked: OCPI PARKING_TIME is time the vehicle does not ask for power. So a stretch is parked
  only when the station said so: SuspendedEV or Finishing (OCPP 1.6), SuspendedEV, or EVConnected after the
  car charged (OCPP 2.0.1). SuspendedEVSE (the site holding power back, e.g. load balancing) is charging
  time: the driver is not charged a parking fee for the site's own limits. Without any state, all is charging.
- Idle (2.0.1, no vehicle connected) is neither: nothing but energy is counted then.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from cpo.tariffs.engine import Usage

PARKED = {"SuspendedEV", "Finishing"}
CHARGING = {"Charging", "SuspendedEVSE", "Preparing", "Occupied"}
ABSENT = {"Idle", "Available"}
ZERO = Decimal(0)
THOUSAND = Decimal(1000)


def _register_at(at: datetime, times: Sequence[datetime], values: Sequence[Decimal]) -> Decimal:
    """The register at ``at``: straight between the readings around it (sorted, at least one)."""
    i = bisect_left(times, at)
    if i < len(times) and times[i] == at:
        return values[i]
    if i == 0:
        return values[0]
    if i == len(times):
        return values[-1]
    t0, t1, v0, v1 = times[i - 1], times[i], values[i - 1], values[i]
    return v0 + (v1 - v0) * Decimal((at - t0).total_seconds()) / Decimal((t1 - t0).total_seconds())


def build_usages(
    start: datetime,
    end: datetime,
    readings: Sequence[tuple[datetime, Decimal]],
    states: Sequence[tuple[datetime, str]] = (),
    powers: Sequence[tuple[datetime, Decimal]] = (),
    merge: bool = True,
    currents: Sequence[tuple[datetime, Decimal]] = (),
) -> list[Usage]:
    """The session's stretches from ``start`` to ``end``.

    ``readings`` are (moment, register Wh), ``states`` (moment, OCPP status or chargingState), ``powers``
    (moment, W), ``currents`` (moment, A summed over the phases: a stretch has the last one read by its
    start, else its first). With ``merge``, neighbouring stretches in the same state become one (for tariffs whose
    rules read no power, energy or current: the engine cuts at their times anyway).
    """
    if end < start:
        end = start
    readings = sorted((at, wh) for at, wh in readings if wh is not None)
    times, values = [at for at, _ in readings], [wh for _, wh in readings]
    powers = sorted(powers)
    power_times = [at for at, _ in powers]
    currents = sorted(currents)
    current_times = [at for at, _ in currents]
    states = sorted(states)
    edges = {start, end}
    edges.update(at for at, _ in readings if start < at < end)
    edges.update(at for at, _ in states if start < at < end)
    moments = sorted(edges)
    state = "Charging"
    seen_charging = False
    for at, value in states:
        if at <= start:
            state = value
            seen_charging = seen_charging or value == "Charging"
    state_index = 0
    usages: list[Usage] = []
    previous_wh = _register_at(start, times, values) if readings else ZERO
    for i in range(len(moments) - 1):
        a, b = moments[i], moments[i + 1]
        while state_index < len(states) and states[state_index][0] <= a:
            state = states[state_index][1]
            seen_charging = seen_charging or state == "Charging"
            state_index += 1
        wh = _register_at(b, times, values) if readings else ZERO
        energy = max(ZERO, wh - previous_wh)
        previous_wh = max(previous_wh, wh)
        seconds = Decimal((b - a).total_seconds())
        parked = state in PARKED or (state == "EVConnected" and seen_charging)
        absent = state in ABSENT
        power = energy / seconds * 3600 / THOUSAND if seconds and energy else None
        peaks = [w / THOUSAND for _, w in powers[bisect_left(power_times, a) : bisect_left(power_times, b)]]
        current = None
        if currents:
            at_or_before = bisect_right(current_times, a) - 1
            current = currents[max(at_or_before, 0)][1]
        usage = Usage(
            a, b, energy_wh=energy,
            charging_s=ZERO if parked or absent else seconds,
            parking_s=seconds if parked else ZERO,
            power_kw=power,
            current_a=current,
            max_power_kw=max(peaks) if peaks else None,
            min_power_kw=min(peaks) if peaks else None,
        )  # fmt: skip
        if merge and usages and _same_kind(usages[-1], usage):
            last = usages[-1]
            last.end = b
            last.energy_wh += energy
            last.charging_s += usage.charging_s
            last.parking_s += usage.parking_s
            span = Decimal((last.end - last.start).total_seconds())
            last.power_kw = last.energy_wh / span * 3600 / THOUSAND if span and last.energy_wh else None
            if usage.max_power_kw is not None:
                last.max_power_kw = max(last.max_power_kw or usage.max_power_kw, usage.max_power_kw)
                last.min_power_kw = min(last.min_power_kw or usage.min_power_kw, usage.min_power_kw)  # type: ignore[type-var]
        else:
            usages.append(usage)
    if not usages:
        usages.append(Usage(start, end))
    return usages


def _same_kind(a: Usage, b: Usage) -> bool:
    return bool(a.charging_s) == bool(b.charging_s) and bool(a.parking_s) == bool(b.parking_s)
