"""Tariffs over the API: bad input refused with nothing stored, versions, assignments, previews, driver prices,
CDRs that cannot be changed, credits, review, and the monthly cost allocation."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.charging.meter import Reading, make_sample
from cpo.charging.models import ChargingSession
from cpo.charging.sessions import start_transaction_16, stop_transaction_16
from cpo.sites.models import Station
from cpo.tariffs import service as tariffs
from cpo.tariffs.models import Cdr, Tariff, TariffVersion
from tests.conftest import SITE, Tenancy
from tests.ocpi_schemas import errors

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]
ENERGY = {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.30", "vat": "21", "step_size": 1}]}]}
DAY_NIGHT = {
    "elements": [
        {"price_components": [{"type": "FLAT", "price": "1.00", "vat": "21", "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": "0.20", "vat": "21", "step_size": 1}],
         "restrictions": {"start_time": "22:00", "end_time": "07:00"}},
        {"price_components": [{"type": "ENERGY", "price": "0.40", "vat": "21", "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": "3.00", "vat": "21", "step_size": 300}]},
    ],
}  # fmt: skip
PAST = "2026-01-01T00:00:00Z"


async def new_tariff(client: Client, headers: dict[str, str], code: str, body: dict[str, Any] = ENERGY,
                     **extra: Any) -> dict[str, Any]:  # fmt: skip
    made = await client.post("/api/v1/tariffs", headers=headers, json={"code": code, "name": code, "currency": "EUR",
                                                                       "body": body, "valid_from": PAST, **extra})  # fmt: skip
    assert made.status_code == 201, made.text
    return dict(made.json())


async def count(sessions: Sessions, model: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"body": {"elements": [{"price_components": [{"type": "ENERGY", "price": "-0.1", "step_size": 1}]}]}},
     "body.elements[0].price_components", "a price cannot be negative"),
    ({"body": {"elements": [{"price_components": [{"type": "TIME", "price": 2, "step_size": 1}],
                             "restrictions": {"min_duration": 3600, "max_duration": 1800}}]}},
     "body.elements[0].restrictions", "can never apply"),
    ({"body": {"elements": [{"price_components": [{"type": "ENERGY", "price": 1, "step_size": 0}]}]}},
     "body.elements[0].price_components", "step_size"),
    ({"body": {"elements": []}}, "body.elements", "length"),
    ({"currency": "eur"}, "currency", ""),
    ({"body": {"elements": [{"price_components": [{"type": "ENERGY", "price": 1, "step_size": 1}],
                             "restrictions": {"start_time": "25:00"}}]}}, "start_time", ""),
])  # fmt: skip
async def test_a_bad_tariff_is_refused_with_the_field_and_nothing_is_stored(
    client: Client, tenant_a: Tenancy, sessions: Sessions, change: dict[str, Any], field: str, reason: str
) -> None:
    body = {"code": "BAD", "name": "Bad", "currency": "EUR", "body": ENERGY} | change
    response = await client.post("/api/v1/tariffs", json=body, headers=tenant_a.admin)
    assert response.status_code == 400, response.text
    assert field in response.text and reason in response.text
    assert await count(sessions, Tariff) == 0 and await count(sessions, TariffVersion) == 0


async def test_versions_take_effect_from_a_moment_and_never_overlap_or_go_back(
    client: Client, tenant_a: Tenancy
) -> None:
    made = await new_tariff(client, tenant_a.admin, "STD")
    twice = await client.post("/api/v1/tariffs", headers=tenant_a.admin,
                              json={"code": "STD", "name": "x", "currency": "EUR", "body": ENERGY})  # fmt: skip
    assert twice.status_code == 409 and "code" in twice.text
    path = f"/api/v1/tariffs/{made['id']}/versions"
    past = await client.post(path, headers=tenant_a.admin, json={"body": DAY_NIGHT, "valid_from": PAST})
    assert past.status_code == 400 and "never in the past" in past.text
    later = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0).isoformat()
    added = await client.post(path, headers=tenant_a.admin, json={"body": DAY_NIGHT, "valid_from": later})
    assert added.status_code == 201, added.text
    versions = added.json()["versions"]
    assert len(versions) == 2 and versions[0]["valid_until"] == versions[1]["valid_from"]
    same = await client.post(path, headers=tenant_a.admin, json={"body": ENERGY, "valid_from": later})
    assert same.status_code == 409 and "valid_from" in same.text
    ocpi = (await client.get(f"/api/v1/tariffs/{made['id']}/ocpi", headers=tenant_a.admin)).json()
    assert ocpi["id"] == "STD" and ocpi["elements"][0]["price_components"][0]["price"] == 0.30
    assert ocpi["end_date_time"].startswith(later[:19])


async def test_assignments_check_currency_group_and_partner_and_the_preview_prices_a_session(
    client: Client, tenant_a: Tenancy
) -> None:
    site = (await client.post("/api/v1/sites", json=SITE, headers=tenant_a.admin)).json()
    pounds = (await client.post("/api/v1/sites", json=SITE | {"name": "London", "currency": "GBP"},
                                headers=tenant_a.admin)).json()  # fmt: skip
    tariff = await new_tariff(client, tenant_a.admin, "DN", DAY_NIGHT)
    assign = {"tariff_id": tariff["id"], "audience": "public"}
    wrong_money = await client.post("/api/v1/tariff-assignments", headers=tenant_a.admin,
                                    json=assign | {"site_id": pounds["id"]})  # fmt: skip
    assert wrong_money.status_code == 400 and "GBP" in wrong_money.text
    group = await client.post("/api/v1/groups", json={"kind": "department", "name": "Ops"}, headers=tenant_a.admin)
    public_group = await client.post("/api/v1/tariff-assignments", headers=tenant_a.admin,
                                     json=assign | {"group_id": group.json()["id"]})  # fmt: skip
    assert public_group.status_code == 400 and "group_id" in public_group.text
    partner = await client.post(
        "/api/v1/tariff-assignments", headers=tenant_a.admin, json=assign | {"partner": "NLTNM"}
    )
    assert partner.status_code == 400 and "partner" in partner.text
    ok = await client.post("/api/v1/tariff-assignments", headers=tenant_a.admin, json=assign | {"site_id": site["id"]})
    assert ok.status_code == 201, ok.text
    again = await client.post(
        "/api/v1/tariff-assignments", headers=tenant_a.admin, json=assign | {"site_id": site["id"]}
    )
    assert again.status_code == 409

    # a 1 h, 20 kWh session from 18:00, parked 10 minutes: 1.00 + 20 x 0.40 + 10 min x 3.00/h = 9.50
    preview = await client.post("/api/v1/tariffs/preview", headers=tenant_a.admin, json={
        "currency": "EUR", "body": DAY_NIGHT, "start": "2026-12-01T18:00:00", "charging_minutes": 60,
        "energy_kwh": "20", "parking_minutes": 10, "time_zone": "Europe/Brussels",
    })  # fmt: skip
    assert preview.status_code == 200, preview.text
    assert preview.json()["total_cost"] == {"excl_vat": 9.5, "incl_vat": 11.495}
    night = await client.post("/api/v1/tariffs/preview", headers=tenant_a.admin, json={
        "currency": "EUR", "body": DAY_NIGHT, "start": "2026-12-01T21:30:00", "charging_minutes": 60,
        "energy_kwh": "20", "time_zone": "Europe/Brussels",
    })  # fmt: skip
    assert night.json()["total_energy_cost"]["excl_vat"] == 6.0  # 10 kWh by day at 0.40, 10 by night at 0.20


async def test_drivers_see_prices_including_vat_before_they_start(client: Client, tenant_a: Tenancy) -> None:
    site = (await client.post("/api/v1/sites", json=SITE, headers=tenant_a.admin)).json()
    station = (await client.post("/api/v1/stations", json={"site_id": site["id"], "identity": "P-1"},
                                 headers=tenant_a.admin)).json()  # fmt: skip
    evse = (await client.post(f"/api/v1/stations/{station['id']}/evses", json={"ocpp_evse_id": 1},
                              headers=tenant_a.admin)).json()  # fmt: skip
    none = await client.get(f"/api/v1/evses/{evse['id']}/prices", headers=tenant_a.admin)
    assert none.status_code == 404
    tariff = await new_tariff(client, tenant_a.admin, "DN", DAY_NIGHT)
    await client.post("/api/v1/tariff-assignments", headers=tenant_a.admin,
                      json={"tariff_id": tariff["id"], "audience": "public", "evse_id": evse["id"]})  # fmt: skip
    prices = (await client.get(f"/api/v1/evses/{evse['id']}/prices", headers=tenant_a.admin)).json()
    shown = {(c["type"], c["when"]): (c["price_incl_vat"], c["unit"]) for c in prices["components"]}
    assert shown[("FLAT", None)] == ("1.2100", "session")
    assert shown[("ENERGY", "22:00-07:00")] == ("0.2420", "kWh")
    assert shown[("ENERGY", None)] == ("0.4840", "kWh")
    assert shown[("PARKING_TIME", None)] == ("3.6300", "hour")


async def run_session(
    sessions: Sessions, station_id: str, tag: str, start: datetime, kwh: int, minutes: int = 60
) -> uuid.UUID:
    async with sessions() as session, session.begin():
        station = await session.get(Station, uuid.UUID(station_id))
        assert station is not None
        started = await start_transaction_16(session, station, 1, tag, 0, start)
        end = start + timedelta(minutes=minutes)
        reading = Reading(end, (make_sample("Energy.Active.Import.Register", str(kwh * 1000), "Wh",
                                            context="Transaction.End"),))  # fmt: skip
        await stop_transaction_16(session, station, started.transaction_id, kwh * 1000, end, None, None, [reading], {})
        return (await session.execute(select(ChargingSession.id).where(
            ChargingSession.ocpp16_id == started.transaction_id))).scalar_one()  # fmt: skip


async def test_cdrs_are_sealed_credited_and_reissued_and_allocated_per_cost_centre_and_project(
    client: Client, tenant_a: Tenancy, sessions: Sessions
) -> None:
    admin = tenant_a.admin
    site = (await client.post("/api/v1/sites", json=SITE, headers=admin)).json()
    station = await client.post("/api/v1/stations", json={"site_id": site["id"], "identity": "B-1"}, headers=admin)
    station_id = station.json()["id"]
    centre = (await client.post("/api/v1/groups", json={"kind": "cost_centre", "name": "Sales", "code": "4100"},
                                headers=admin)).json()  # fmt: skip
    project = (await client.post("/api/v1/groups", json={"kind": "customer_project", "name": "Acme build"},
                                 headers=admin)).json()  # fmt: skip
    person = (await client.post("/api/v1/people", json={"name": "Eva", "email": "eva@example.com",
                                                        "cost_centre_id": centre["id"]}, headers=admin)).json()  # fmt: skip
    await client.post("/api/v1/badges", json={"uid": "E1E2E3E4", "person_id": person["id"]}, headers=admin)

    # no internal nor public tariff yet: the session waits for review, nothing priced at zero
    first = await run_session(sessions, station_id, "E1E2E3E4", datetime(2026, 11, 2, 9, tzinfo=UTC), 10)
    async with sessions() as session, session.begin():
        assert await tariffs.issue_cdr(session, first) is None
    review = (await client.get(f"/api/v1/sessions/{first}", headers=admin)).json()
    assert review["pricing"] == "review" and "no tariff for internal or public use" in review["pricing_note"]
    assert await count(sessions, Cdr) == 0

    tariff = await new_tariff(client, admin, "INT")
    await client.post("/api/v1/tariff-assignments", json={"tariff_id": tariff["id"], "audience": "internal"},
                      headers=admin)  # fmt: skip
    priced = await client.post(f"/api/v1/sessions/{first}/price-again", headers=admin)
    assert priced.status_code == 200, priced.text
    cdr = priced.json()
    assert (cdr["session_class"], cdr["payer"], cdr["cost_centre_id"]) == ("internal", "cost_centre", centre["id"])
    assert Decimal(cdr["total_cost"]["excl_vat"]) == Decimal("3.00")  # 10 kWh x 0.30
    assert (await client.post(f"/api/v1/sessions/{first}/price-again", headers=admin)).status_code == 409

    # a second session, booked to a customer project
    second = await run_session(sessions, station_id, "E1E2E3E4", datetime(2026, 11, 3, 9, tzinfo=UTC), 20)
    await client.put(f"/api/v1/sessions/{second}/allocation", json={"project_id": project["id"]}, headers=admin)
    async with sessions() as session, session.begin():
        issued = await tariffs.issue_cdr(session, second)
        assert issued is not None and issued.number == cdr["number"] + 1, "numbered in order, no gaps"
        assert (await tariffs.issue_cdr(session, second)).id == issued.id  # type: ignore[union-attr]

    # sealed: the database itself refuses to change or delete a CDR
    for statement in ("UPDATE cdrs SET total_excl = 0", "DELETE FROM cdrs",
                      "UPDATE cdrs SET cdr_location = '{}'", "UPDATE cdrs SET cdr_token = '{}'"):  # fmt: skip
        with pytest.raises(DBAPIError, match=r"never|only by GDPR erasure"):
            async with sessions() as session, session.begin():
                await session.execute(text(statement))

    # a correction: a credit CDR (negative, referencing the original) and a new CDR at the price now in force
    credited = await client.post(f"/api/v1/cdrs/{cdr['id']}/credit", json={"reason": "wrong tariff"}, headers=admin)
    assert credited.status_code == 201, credited.text
    credit, reissued = credited.json()
    assert credit["credit"] and credit["credit_of"] == cdr["id"] and credit["ocpi_id"] == cdr["ocpi_id"] + "-C"
    assert Decimal(credit["total_cost"]["excl_vat"]) == Decimal("-3.00")
    assert reissued["session_id"] == str(first) and not reissued["credit"] and reissued["number"] > credit["number"]
    twice = await client.post(f"/api/v1/cdrs/{cdr['id']}/credit", json={"reason": "again"}, headers=admin)
    assert twice.status_code == 409

    # every CDR as OCPI sends it, and its tariff, pass the OCPI organisation's schemas, in 2.2.1 and 2.3.0
    for cdr_id in (cdr["id"], credit["id"], reissued["id"]):
        for version in ("2.2.1", "2.3.0"):
            body = (await client.get(f"/api/v1/cdrs/{cdr_id}/ocpi", params={"version": version}, headers=admin)).json()
            assert errors(body, version, "cdrs", "CDR") == [], (version, errors(body, version, "cdrs", "CDR"))
    as_221 = (await client.get(f"/api/v1/cdrs/{credit['id']}/ocpi", headers=admin)).json()
    assert as_221["credit"] is True and as_221["credit_reference_id"] == cdr["ocpi_id"]
    assert as_221["total_cost"] == {"excl_vat": -3.0, "incl_vat": -3.63}
    as_230 = (await client.get(f"/api/v1/cdrs/{cdr['id']}/ocpi", params={"version": "2.3.0"}, headers=admin)).json()
    assert as_230["total_cost"] == {"before_taxes": 3.0, "taxes": [{"name": "VAT", "amount": 0.63}]}
    for version in ("2.2.1", "2.3.0"):
        body = (await client.get(f"/api/v1/tariffs/{tariff['id']}/ocpi", params={"version": version},
                                 headers=admin)).json()  # fmt: skip
        assert errors(body, version, "tariffs", "Tariff") == [], (version, body)

    allocation = (await client.get("/api/v1/billing/cost-allocation", params={"month": "2026-11"},
                                   headers=admin)).json()  # fmt: skip
    rows = {r["name"]: r for r in allocation}
    assert rows["Sales"]["sessions"] == 1 and Decimal(rows["Sales"]["excl_vat"]) == Decimal("3.00")
    assert Decimal(rows["Sales"]["incl_vat"]) == Decimal("3.63") and Decimal(rows["Sales"]["vat"]) == Decimal("0.63")
    assert rows["Acme build"]["kind"] == "customer_project" and Decimal(rows["Acme build"]["excl_vat"]) == Decimal("6")
    exported = await client.get("/api/v1/billing/cost-allocation.csv", params={"month": "2026-11"}, headers=admin)
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["name"]: r["excl_vat"] for r in table} == {"Acme build": "6.0000", "Sales": "3.0000"}
    assert table[0]["month"] == "2026-11"
    empty = (await client.get("/api/v1/billing/cost-allocation", params={"month": "2026-10"}, headers=admin)).json()
    assert empty == []
    # a session ending at 00:30 on 1 December in Brussels (23:30 UTC on the 30th) is December's
    late = await run_session(sessions, station_id, "E1E2E3E4", datetime(2026, 11, 30, 22, 30, tzinfo=UTC), 5)
    async with sessions() as session, session.begin():
        assert await tariffs.issue_cdr(session, late) is not None
    november = (await client.get("/api/v1/billing/cost-allocation", params={"month": "2026-11"}, headers=admin)).json()
    december = (await client.get("/api/v1/billing/cost-allocation", params={"month": "2026-12"}, headers=admin)).json()
    assert {r["name"]: r["sessions"] for r in november} == {r["name"]: r["sessions"] for r in allocation}
    assert [(r["name"], r["sessions"], r["energy_kwh"]) for r in december] == [("Sales", 1, "5.0000")], december
    bad = await client.get("/api/v1/billing/cost-allocation", params={"month": "2026-13"}, headers=admin)
    assert bad.status_code == 400
