"""Sessions through the real OCPP gateway end in CDRs: the right class, payer and total, or a review.

The ``ocpp`` package's charge points against a real ``cpo serve`` on PostgreSQL; CDRs are issued by the
platform's own outbox consumer when a session ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from ocpp.v16 import call
from ocpp.v201 import call as call201

from tests.integration.ocpp_support import Server, connect, start_server
from tests.integration.test_access_ocpp import eventually

FROM_2026 = "2026-01-01T00:00:00Z"
INTERNAL = {  # employees: EUR 0.20/kWh, parking EUR 1.20/h per 5 minutes, 21% VAT
    "elements": [{"price_components": [
        {"type": "ENERGY", "price": "0.20", "vat": "21", "step_size": 1},
        {"type": "PARKING_TIME", "price": "1.20", "vat": "21", "step_size": 300},
    ]}],
}  # fmt: skip
PUBLIC = {  # everyone else: a start fee and EUR 0.45/kWh, 21% VAT
    "elements": [{"price_components": [
        {"type": "FLAT", "price": "0.50", "vat": "21", "step_size": 1},
        {"type": "ENERGY", "price": "0.45", "vat": "21", "step_size": 1},
    ]}],
}  # fmt: skip
HOME = {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.2791", "step_size": 1}]}]}


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("tariffs"), module_db_url, CPO_OUTBOX_POLL_SECONDS="0.5")
    yield running
    assert running.platform.stop() == 0


async def setup_tariffs(server: Server) -> None:
    async with server.api() as api:
        for code, body, audience in (("INT", INTERNAL, "internal"), ("PUB", PUBLIC, "public")):
            made = await api.post("/api/v1/tariffs", json={"code": code, "name": code, "currency": "EUR",
                                                           "body": body, "valid_from": FROM_2026})  # fmt: skip
            assert made.status_code in (201, 409), made.text
            if made.status_code == 201:
                assigned = await api.post("/api/v1/tariff-assignments",
                                          json={"tariff_id": made.json()["id"], "audience": audience})  # fmt: skip
                assert assigned.status_code == 201, assigned.text


async def person_with_badge(server: Server, uid: str, **person: Any) -> dict[str, Any]:
    async with server.api() as api:
        made = await api.post("/api/v1/people", json={"name": f"Holder {uid}", "email": f"{uid.lower()}@ex.com",
                                                      **person})  # fmt: skip
        assert made.status_code == 201, made.text
        assert (await api.post("/api/v1/badges", json={"uid": uid, "person_id": made.json()["id"]})).status_code == 201
        return dict(made.json())


async def cdr_of(server: Server, session_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def issued() -> bool:
        async with server.api() as api:
            cdrs = (await api.get("/api/v1/cdrs")).json()
        found.update(next((c for c in cdrs if c["session_id"] == session_id and not c["credit"]), {}))
        return bool(found)

    try:
        await eventually(issued, 20)
    except AssertionError:
        async with server.api() as api:
            session = (await api.get(f"/api/v1/sessions/{session_id}")).json()
        raise AssertionError(f"no CDR for the session: {session}") from None
    return found


async def session_id_of(server: Server, transaction_id: str) -> dict[str, Any]:
    async with server.api() as api:
        rows = (await api.get("/api/v1/sessions", params={"limit": 1000})).json()
    return next(s for s in rows if s["transaction_id"] == transaction_id)


async def test_an_employee_session_on_16_ends_in_an_internal_cdr_for_their_cost_centre(server: Server) -> None:
    await setup_tariffs(server)
    async with server.api() as api:
        centre = (await api.post("/api/v1/groups", json={"kind": "cost_centre", "name": "CC-410"})).json()
    person = await person_with_badge(server, "11AA22BB", cost_centre_id=centre["id"])
    station = await server.new_station()
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="11AA22BB", meter_start=1000,
                                                      timestamp="2026-11-23T09:00:00Z"))  # fmt: skip
        tx = started.transaction_id
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging",
                                              timestamp="2026-11-23T09:00:00Z"))  # fmt: skip
        await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": "2026-11-23T09:30:00Z",
            "sampled_value": [{"value": "6000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}],
        }]))  # fmt: skip
        # the car is full at 09:50 and stays plugged in for 10 minutes: parked
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="SuspendedEV",
                                              timestamp="2026-11-23T09:50:00Z"))  # fmt: skip
        await cp.call(call.StopTransaction(meter_stop=9000, timestamp="2026-11-23T10:00:00Z", transaction_id=tx))
    session = await session_id_of(server, str(tx))
    assert (session["session_class"], session["payer"]) == ("internal", "cost_centre")
    cdr = await cdr_of(server, session["id"])
    assert (cdr["session_class"], cdr["payer"], cdr["person_id"]) == ("internal", "cost_centre", person["id"])
    assert cdr["cost_centre_id"] == centre["id"]
    # 8 kWh x 0.20 = 1.60; parked 10 min x 1.20/h = 0.20; 21% VAT
    assert Decimal(cdr["total_cost"]["excl_vat"]) == Decimal("1.80")
    assert Decimal(cdr["total_cost"]["incl_vat"]) == Decimal("2.178")
    assert Decimal(cdr["total_energy"]) == Decimal("8") and Decimal(cdr["total_parking_time"]) == Decimal("0.1667")
    assert cdr["tariff"]["id"] == "INT" and len(cdr["charging_periods"]) >= 2
    async with server.api() as api:
        again = (await api.get("/api/v1/cdrs")).json()
    assert sum(1 for c in again if c["session_id"] == session["id"]) == 1, "one CDR per session"


async def test_a_visitor_on_201_pays_the_public_price_and_the_cost_is_live_while_charging(server: Server) -> None:
    await setup_tariffs(server)
    await person_with_badge(server, "0CAFE0", kind="visitor")
    station = await server.new_station()
    token = {"id_token": "0CAFE0", "type": "ISO14443"}
    evse = {"id": 1, "connector_id": 1}
    async with connect(server, station, "2.0.1") as cp:
        await cp.call(call201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
        await cp.call(call201.TransactionEvent(
            event_type="Started", timestamp="2026-11-24T12:00:00Z", trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "V-1", "charging_state": "Charging"}, id_token=token, evse=evse,
            meter_value=[{"timestamp": "2026-11-24T12:00:00Z", "sampled_value": [
                {"value": 0, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}]}],
        ))  # fmt: skip
        await cp.call(call201.TransactionEvent(
            event_type="Updated", timestamp="2026-11-24T12:30:00Z", trigger_reason="MeterValuePeriodic", seq_no=1,
            transaction_info={"transaction_id": "V-1"},
            meter_value=[{"timestamp": "2026-11-24T12:30:00Z", "sampled_value": [
                {"value": 4000, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}]}],
        ))  # fmt: skip
        running = await session_id_of(server, "V-1")
        async with server.api() as api:
            live = (await api.get(f"/api/v1/sessions/{running['id']}/cost")).json()
        # while running: start fee and 4 kWh so far at 0.45
        assert (live["session_class"], live["payer"]) == ("visitor", "driver")
        assert Decimal(live["total_cost"]["excl_vat"]) == Decimal("2.30")
        await cp.call(call201.TransactionEvent(
            event_type="Ended", timestamp="2026-11-24T13:00:00Z", trigger_reason="EVCommunicationLost", seq_no=2,
            transaction_info={"transaction_id": "V-1", "stopped_reason": "EVDisconnected"},
            meter_value=[{"timestamp": "2026-11-24T13:00:00Z", "sampled_value": [
                {"value": 10000, "measurand": "Energy.Active.Import.Register", "context": "Transaction.End",
                 "unit_of_measure": {"unit": "Wh"}}]}],
        ))  # fmt: skip
    cdr = await cdr_of(server, running["id"])
    assert (cdr["session_class"], cdr["payer"]) == ("visitor", "driver")
    assert Decimal(cdr["total_cost"]["excl_vat"]) == Decimal("5.00")  # 0.50 + 10 kWh x 0.45
    assert Decimal(cdr["total_cost"]["incl_vat"]) == Decimal("6.05")
    assert cdr["tariff"]["id"] == "PUB"


async def test_home_charging_without_a_home_rate_waits_for_review_and_is_priced_once_one_is_set(
    server: Server,
) -> None:
    person = await person_with_badge(server, "00C0FFEE")
    station = await server.new_station()
    async with server.api() as api:
        site_id = (await api.get(f"/api/v1/stations/{station['id']}")).json()["site_id"]
        site = (await api.get(f"/api/v1/sites/{site_id}")).json()
        updated = await api.put(f"/api/v1/sites/{site_id}", json={
            **{k: site[k] for k in ("name", "address", "city", "country", "time_zone", "postal_code")},
            "latitude": float(site["latitude"]), "longitude": float(site["longitude"]), "home_person_id": person["id"],
        })  # fmt: skip
        assert updated.status_code == 200, updated.text
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="00C0FFEE", meter_start=0,
                                                      timestamp="2026-11-25T19:00:00Z"))  # fmt: skip
        await cp.call(call.StopTransaction(meter_stop=12000, timestamp="2026-11-25T22:00:00Z",
                                           transaction_id=started.transaction_id))  # fmt: skip

    async def in_review() -> bool:
        return (await session_id_of(server, str(started.transaction_id)))["pricing"] == "review"

    await eventually(in_review, 20)
    session = await session_id_of(server, str(started.transaction_id))
    assert (session["session_class"], session["payer"]) == ("home", "employer")
    assert "no tariff for home use" in session["pricing_note"]
    async with server.api() as api:
        made = await api.post("/api/v1/tariffs", json={"code": f"HOME-{site_id[:8]}", "name": "Home", "currency": "EUR",
                                                       "body": HOME, "valid_from": FROM_2026})  # fmt: skip
        await api.post("/api/v1/tariff-assignments", json={"tariff_id": made.json()["id"], "audience": "home",
                                                           "site_id": site_id})  # fmt: skip
        priced = await api.post(f"/api/v1/sessions/{session['id']}/price-again")
    assert priced.status_code == 200, priced.text
    cdr = priced.json()
    assert (cdr["session_class"], cdr["payer"]) == ("home", "employer")
    assert Decimal(cdr["total_cost"]["excl_vat"]) == Decimal("3.3492")  # 12 kWh x 0.2791, no VAT
    async with server.api() as api:
        before = (await api.get(f"/api/v1/cdrs/{cdr['id']}/ocpi")).json()
    assert before["cdr_location"]["address"] == site["address"]

    # the employee leaves and asks to be erased: their home address goes, from the site and from its CDRs
    async with server.api() as api:
        erased = await api.delete(f"/api/v1/people/{person['id']}/personal-data")
        assert erased.status_code == 200 and erased.json()["home_addresses_erased"] == 1, erased.text
        home = (await api.get(f"/api/v1/sites/{site_id}")).json()
        after = (await api.get(f"/api/v1/cdrs/{cdr['id']}/ocpi")).json()
    assert (home["address"], home["postal_code"], home["city"]) == ("(erased)", None, site["city"])
    assert Decimal(str(home["latitude"])) == Decimal(str(site["latitude"])).quantize(Decimal("0.1"))
    place = after["cdr_location"]
    assert place["address"] == place["name"] == "(erased)" and "postal_code" not in place
    assert place["coordinates"]["latitude"] == f"{Decimal(str(site['latitude'])).quantize(Decimal('0.1')):.6f}"
    assert (place["city"], place["evse_id"]) == (before["cdr_location"]["city"], before["cdr_location"]["evse_id"])
    assert after["total_cost"] == before["total_cost"] and after["cdr_token"]["uid"] != before["cdr_token"]["uid"]
    from tests.ocpi_schemas import errors

    assert errors(after, "2.2.1", "cdrs", "CDR") == [], "an erased CDR is still a valid OCPI CDR"
    async with server.api() as api:
        trail = (await api.get("/api/v1/audit", params={"entity": "sites", "entity_id": site_id})).json()
    entries = trail["items"] if isinstance(trail, dict) else trail
    assert entries and site["address"] not in json.dumps(entries), "nor in the audit trail of the site"
