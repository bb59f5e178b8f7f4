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
import gc
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

from cpo.tariffs import engine
from cpo.tariffs.engine import Usage
from cpo.tariffs.native import load_pure
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


def recorded_sessions(count: int, seed: int = 7, usage: Any = Usage) -> list[list[Any]]:
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
                usages.append(usage(at, end, energy_wh=wh, charging_s=Decimal(minutes * 60),
                                    power_kw=wh * 60 / minutes / 1000))  # fmt: skip
            else:
                usages.append(usage(at, end, parking_s=Decimal(minutes * 60)))
            at = end
        sessions.append(usages)
    return sessions


def engine_round(sessions: list[list[Any]], module: ModuleType = engine) -> tuple[float, Decimal]:
    compiled = module.compile_tariff(decode_tariff(TARIFF))
    price_session = module.price_session
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
    gc.collect()
    gc.freeze()  # as the server does at startup (cpo.app.tune_garbage_collector)
    pure = load_pure()
    sessions = recorded_sessions(args.sessions)
    pure_sessions = recorded_sessions(args.sessions, usage=pure.Usage) if engine.NATIVE else sessions
    rates: dict[str, list[float]] = {"engine": [], "plain": [], "reference": []}
    for _ in range(args.rounds):
        rate, priced = engine_round(sessions)
        rates["engine"].append(rate)
        if engine.NATIVE:
            rate, priced_pure = engine_round(pure_sessions, pure)
            rates["plain"].append(rate)
            assert priced_pure == priced, "the compiled and the plain engine disagree"
        rates["reference"].append(reference_round(sessions)[0])
    median = {k: statistics.median(v) for k, v in rates.items() if v}
    print(f"sessions: {len(sessions):,} of 10 periods each; tariff: start fee, day/night energy, parking "
          f"with step_size, VAT, max price; one core")  # fmt: skip
    kind = "compiled (mypyc)" if engine.NATIVE else "plain Python (no build: python -m cpo.tariffs.native build)"
    print(f"engine, {kind}: {median['engine']:,.0f} CDRs/s (rounds: {', '.join(f'{r:,.0f}' for r in rates['engine'])})")
    if engine.NATIVE:
        print(f"engine, plain Python: {median['plain']:,.0f} CDRs/s "
              f"(rounds: {', '.join(f'{r:,.0f}' for r in rates['plain'])}); same totals")  # fmt: skip
    print(f"reference: {median['reference']:,.0f} sessions/s summed plainly "
          f"(rounds: {', '.join(f'{r:,.0f}' for r in rates['reference'])})")  # fmt: skip
    print(f"ratio engine/reference: {median['engine'] / median['reference']:.3f}")
    print(f"target: 20,000 CDRs/s -> {'met' if median['engine'] >= 20_000 else 'NOT met'}; "
          f"total priced: EUR {priced:.2f} excl. VAT")  # fmt: skip


if __name__ == "__main__":
    main()
