"""Stretches from what a station reported: energy between readings, charging or parked from its states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cpo.tariffs.periods import build_usages

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
D = Decimal


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_energy_between_readings_and_parking_only_when_the_vehicle_stops_asking() -> None:
    readings = [(at(0), D(1000)), (at(30), D(6000)), (at(60), D(11000)), (at(90), D(11000))]
    states = [(at(0), "Charging"), (at(45), "SuspendedEVSE"), (at(50), "Charging"), (at(60), "SuspendedEV")]
    usages = build_usages(at(0), at(90), readings, states)
    # charging (incl. the site's own pause) until 60 min, then parked
    assert [(u.start, u.end) for u in usages] == [(at(0), at(60)), (at(60), at(90))]
    assert (usages[0].energy_wh, usages[0].charging_s, usages[0].parking_s) == (D(10000), D(3600), D(0))
    assert (usages[1].energy_wh, usages[1].charging_s, usages[1].parking_s) == (D(0), D(0), D(1800))


def test_unmerged_stretches_follow_every_reading_and_state_change() -> None:
    readings = [(at(0), D(0)), (at(10), D(1000)), (at(20), D(3000))]
    usages = build_usages(at(0), at(20), readings, [(at(5), "Charging")], merge=False)
    assert [u.end for u in usages] == [at(5), at(10), at(20)]
    assert [u.energy_wh for u in usages] == [D(500), D(500), D(2000)]
    assert usages[2].power_kw == D(12)  # 2 kWh in 10 minutes


def test_evconnected_is_parked_only_after_charging_and_idle_counts_no_time() -> None:
    states = [(at(0), "EVConnected"), (at(5), "Charging"), (at(20), "EVConnected"), (at(30), "Idle")]
    usages = build_usages(at(0), at(40), [(at(0), D(0)), (at(20), D(3000))], states, merge=False)
    kinds = [("charge" if u.charging_s else "park" if u.parking_s else "none") for u in usages]
    assert kinds == ["charge", "charge", "park", "none"]


def test_no_readings_and_no_states_is_one_charging_stretch_without_energy() -> None:
    (usage,) = build_usages(at(0), at(15), [])
    assert (usage.energy_wh, usage.charging_s) == (D(0), D(900))


def test_each_stretch_carries_the_current_read_by_its_start_for_current_restrictions() -> None:
    readings = [(at(0), D(0)), (at(10), D(2000)), (at(20), D(6000))]
    currents = [(at(0), D(16)), (at(10), D(48))]
    usages = build_usages(at(0), at(20), readings, [], [], merge=False, currents=currents)
    assert [u.current_a for u in usages] == [D(16), D(48)]
