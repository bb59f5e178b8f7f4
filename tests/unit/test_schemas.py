"""Validation of inputs: the same structs serve the API and the UI forms."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from cpo.sites.schemas import ConnectorIn, EvseIn, SiteIn, StationIn
from cpo.web.problems import field_error

SITE: dict[str, Any] = {"name": "HQ", "address": "Main 1", "city": "Gent", "country": "BEL", "latitude": 51.05,
                        "longitude": 3.72, "time_zone": "Europe/Brussels"}  # fmt: skip


def error_field(type_: type[Any], data: dict[str, Any]) -> str:
    with pytest.raises(msgspec.ValidationError) as raised:
        msgspec.convert(data, type_)
    return field_error(str(raised.value))["field"]


def test_a_valid_site_defaults_to_open_around_the_clock_and_internal() -> None:
    site = msgspec.convert(SITE, SiteIn)
    assert site.opening_times.twentyfourseven and not site.publish


@pytest.mark.parametrize(
    ("change", "field"),
    [({"country": "Belgium"}, "country"), ({"latitude": -90.1}, "latitude"), ({"longitude": 180.5}, "longitude"),
     ({"time_zone": "CET/Nowhere"}, "time_zone"), ({"name": ""}, "name"), ({"address": "x" * 46}, "address"),
     ({"opening_times": {"twentyfourseven": False, "regular_hours": [{"weekday": 8, "period_begin": "07:00",
       "period_end": "19:00"}]}}, "opening_times.regular_hours[0].weekday"),
     ({"opening_times": {"twentyfourseven": False, "exceptional_closings": [{"period_begin": "2026-12-25T00:00:00Z",
       "period_end": "2026-12-24T00:00:00Z"}]}}, "opening_times.exceptional_closings[0]")],
)  # fmt: skip
def test_site_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    assert error_field(SiteIn, SITE | change) == field


def test_overnight_hours_are_allowed() -> None:
    hours = {
        "twentyfourseven": False,
        "regular_hours": [{"weekday": 5, "period_begin": "22:00", "period_end": "06:00"}],
    }
    assert msgspec.convert(SITE | {"opening_times": hours}, SiteIn).opening_times.regular_hours[0].period_end == "06:00"


@pytest.mark.parametrize("identity", ["CP-001", "BE.GENT:42", "alfen_eve*1"])
def test_station_identities_that_fit_in_a_url_segment(identity: str) -> None:
    assert msgspec.convert({"site_id": "00000000-0000-4000-8000-000000000001", "identity": identity}, StationIn)


@pytest.mark.parametrize("identity", ["", "a/b", "has space", "x" * 49, "é"])
def test_station_identities_refused(identity: str) -> None:
    data = {"site_id": "00000000-0000-4000-8000-000000000001", "identity": identity}
    assert error_field(StationIn, data) == "identity"


def test_station_password_length_follows_ocpp() -> None:
    data = {"site_id": "00000000-0000-4000-8000-000000000001", "identity": "CP", "password": "short"}
    assert error_field(StationIn, data) == "password"


@pytest.mark.parametrize("evse_id", ["BE*ABC*E0001", "BEABCE0001", "NL*TNM*E12345*1"])
def test_emi3_evse_ids_accepted(evse_id: str) -> None:
    assert msgspec.convert({"ocpp_evse_id": 1, "evse_id": evse_id}, EvseIn).evse_id == evse_id


@pytest.mark.parametrize("evse_id", ["BE*ABC*0001", "be*abc*E1", "BE*AB*E1", "BE-ABC-E1"])
def test_malformed_evse_ids_refused(evse_id: str) -> None:
    assert error_field(EvseIn, {"ocpp_evse_id": 1, "evse_id": evse_id}) == "evse_id"


def test_repeated_capabilities_refused() -> None:
    assert error_field(EvseIn, {"ocpp_evse_id": 1, "capabilities": ["RFID_READER", "RFID_READER"]}) == "capabilities"


def test_connector_vocabulary_is_ocpi() -> None:
    good = {
        "standard": "IEC_62196_T2_COMBO",
        "format": "CABLE",
        "power_type": "DC",
        "max_voltage": 920,
        "max_amperage": 500,
    }
    assert msgspec.convert(good, ConnectorIn).ocpp_connector_id == 1
    assert error_field(ConnectorIn, good | {"power_type": "AC"}) == "power_type"
    assert error_field(ConnectorIn, good | {"max_amperage": 0}) == "max_amperage"
