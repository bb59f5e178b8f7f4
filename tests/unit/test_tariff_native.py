"""The compiled engine (mypyc) and the plain-Python one price every session alike, to the last digit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from cpo.tariffs import engine
from cpo.tariffs.native import compiled_source, digest, load_pure
from cpo.tariffs.ocpi import Tariff
from tests.unit.test_tariff_properties import ZONE, sessions, tariffs

pytestmark = pytest.mark.skipif(not engine.NATIVE, reason="no compiled engine (python -m cpo.tariffs.native build)")
PURE = load_pure()


def as_pure(usages: list[Any]) -> list[Any]:
    return [PURE.Usage(u.start, u.end, u.energy_wh, u.charging_s, u.parking_s, u.reservation_s, u.power_kw,
                       u.current_a, u.max_power_kw, u.min_power_kw) for u in usages]  # fmt: skip


def test_the_compiled_engine_is_built_from_this_very_source() -> None:
    native = __import__("cpo.tariffs._engine_native", fromlist=["SOURCE_DIGEST"])
    assert digest(compiled_source()) == native.SOURCE_DIGEST
    assert not PURE.NATIVE and type(PURE.price_session).__name__ == "function"


@settings(max_examples=300, deadline=None)
@given(tariffs(), sessions())
def test_compiled_and_plain_give_the_same_price(tariff: Tariff, usages: list[Any]) -> None:
    compiled = engine.price_session(engine.compile_tariff(tariff), usages, ZONE)
    plain = PURE.price_session(PURE.compile_tariff(tariff), as_pure(usages), ZONE)
    assert (compiled.total.excl_vat, compiled.total.incl_vat) == (plain.total.excl_vat, plain.total.incl_vat)
    assert compiled.sums == plain.sums and compiled.volumes == plain.volumes
