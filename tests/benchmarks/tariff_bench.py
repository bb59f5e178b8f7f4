"""Pricing benchmark: CDRs per second on one core, for sessions of 10 charging periods each.

Run: .venv/bin/python -m tests.benchmarks.tariff_bench [--sessions 100000] [--rounds 3]

The sessions are recorded once (10 periods each: charging with meter figures, then parked), then priced
with a realistic tariff: a start fee, a day and a night energy price (a window past midnight), a
time-of-day parking fee with a step_size, VAT, and a max price, in Europe/Brussels. Beside it, in the same
run, a reference: the same sessions priced by a plain loop (energy times one price, no tariff rules), so a
reader can compare runs on a noisy, shared machine by the ratio. Rounds alternate; medians are printed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cpo.tariffs.engine import Usage, compile_tariff, price_session
from cpo.tariffs.ocpi import decode_tariff

TARIFF = b"""{
  "id": "BENCH", "currency": "EUR",
  "max_price": {"excl_vat": 80.00, "incl_vat": 96.80},
  "elements": [
    {"price_components": [{"type": "FLAT", "price": 0.35, "vat": 21.0, "step_size": 1}]},
    {"price_components": [{"type": "ENERGY", "price": 0.22, "vat": 21.0, "step_size": 1}],
     "restrictions": {"start_time": "22:00", "end_time": "07:00"}},
    {"price_components": [{"type": "ENERGY", "price": 0.39, "vat": 21.0, "step_size": 1}]},
    {"price_components": [{"type": "PARKING_TIME", "price": 6.00, "vat": 21.0, "step_size": 300}],
     "restrictions": {"start_time": "08:00", "end_time": "20:00", "day_of_week":
       ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]}}
  ]
}"""
ZONE = "Europe/Brussels"


def recorded_sessions(count: int, seed: int = 7) -> list[list[Usage]]:
    """Sessions of 10 periods: 8 charging (power from the meter), then 2 parked."""
    rng = random.Random(seed)
    base = datetime(2026, 1, 5, tzinfo=UTC)
    sessions = []
    for _ in range(count):
        at = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 300))
        usages = []
        for i in range(10):
            minutes = rng.randrange(5, 40)
            end = at + timedelta(minutes=minutes)
            if i < 8:
                wh = Decimal(rng.randrange(200, 11_000 * minutes // 60))
                usages.append(Usage(at, end, energy_wh=wh, charging_s=Decimal(minutes * 60),
                                    power_kw=wh * 60 / minutes / 1000))  # fmt: skip
            else:
                usages.append(Usage(at, end, parking_s=Decimal(minutes * 60)))
            at = end
        sessions.append(usages)
    return sessions


def engine_round(sessions: list[list[Usage]]) -> tuple[float, Decimal]:
    compiled = compile_tariff(decode_tariff(TARIFF))
    total = Decimal(0)
    began = time.perf_counter()
    for usages in sessions:
        total += price_session(compiled, usages, ZONE).total.excl_vat
    return len(sessions) / (time.perf_counter() - began), total


def reference_round(sessions: list[list[Usage]]) -> tuple[float, Decimal]:
    """The floor: each period's energy times one price, summed in Decimal, no rules."""
    price = Decimal("0.39") / 1000
    total = Decimal(0)
    began = time.perf_counter()
    for usages in sessions:
        session_total = Decimal(0)
        for usage in usages:
            session_total += usage.energy_wh * price
        total += session_total
    return len(sessions) / (time.perf_counter() - began), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sessions = recorded_sessions(args.sessions)
    engine, reference = [], []
    for _ in range(args.rounds):
        rate, priced = engine_round(sessions)
        engine.append(rate)
        reference.append(reference_round(sessions)[0])
    print(f"sessions: {len(sessions):,} of 10 periods each; tariff: start fee, day/night energy, parking "
          f"with step_size, VAT, max price; one core")  # fmt: skip
    print(f"engine:    {statistics.median(engine):>10,.0f} CDRs/s (rounds: {', '.join(f'{r:,.0f}' for r in engine)})")
    print(f"reference: {statistics.median(reference):>10,.0f} sessions/s summed plainly "
          f"(rounds: {', '.join(f'{r:,.0f}' for r in reference)})")  # fmt: skip
    print(f"ratio engine/reference: {statistics.median(engine) / statistics.median(reference):.3f}")
    print(f"target: 20,000 CDRs/s -> {'met' if statistics.median(engine) >= 20_000 else 'NOT met'}; "
          f"total priced: EUR {priced:.2f} excl. VAT")  # fmt: skip


if __name__ == "__main__":
    main()
