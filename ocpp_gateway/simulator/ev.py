"""An electric vehicle's charging behaviour: a battery that takes constant current, then tapers near full."""

from __future__ import annotations

import random
from dataclasses import dataclass

VOLTS_PER_PHASE = 230.0


@dataclass
class Vehicle:
    battery_kwh: float
    soc: float
    """State of charge, 0..1."""
    max_current_a: float
    phases: int
    target_soc: float = 1.0

    @classmethod
    def random(cls, rng: random.Random) -> Vehicle:
        return cls(
            battery_kwh=rng.choice([40.0, 58.0, 64.0, 77.0, 82.0]),
            soc=rng.uniform(0.15, 0.6),
            max_current_a=rng.choice([16.0, 16.0, 32.0]),
            phases=rng.choice([1, 3, 3, 3]),
            target_soc=rng.choice([0.8, 0.9, 1.0]),
        )

    def acceptance(self) -> float:
        """The share of its maximum current the battery takes at this state of charge (taper above 80 %)."""
        if self.soc < 0.8:
            return 1.0
        return max(0.05, 1.0 - (self.soc - 0.8) / 0.2 * 0.95)

    def current(self, offered_a: float) -> float:
        """Amperes per phase it draws when the station offers ``offered_a`` (below 6 A: nothing, IEC 61851)."""
        if self.full or offered_a < 6.0:
            return 0.0
        return min(offered_a, self.max_current_a * self.acceptance())

    def charge(self, amps: float, seconds: float) -> float:
        """Charge for a while; returns the energy taken in Wh."""
        watts = amps * VOLTS_PER_PHASE * self.phases
        wh = watts * seconds / 3600.0
        room = (self.target_soc - self.soc) * self.battery_kwh * 1000
        wh = max(0.0, min(wh, room))
        self.soc += wh / (self.battery_kwh * 1000)
        return wh

    @property
    def full(self) -> bool:
        return self.soc >= self.target_soc - 1e-6
