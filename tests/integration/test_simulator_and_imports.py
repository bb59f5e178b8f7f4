"""The simulator's stations against a real server; CSV imports of stations and badges through the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocpp_gateway.simulator.ev import Vehicle
from ocpp_gateway.simulator.station import Faults, StationPlan, VirtualStation
from tests.integration.ocpp_support import Server, start_server
from tests.platform import run_cpo


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("sim"), module_db_url)
    yield running
    assert running.platform.stop() == 0


def test_vehicles_draw_less_near_full_and_nothing_below_six_amps() -> None:
    ev = Vehicle(battery_kwh=60, soc=0.5, max_current_a=32, phases=3)
    assert ev.current(32) == 32 and ev.current(16) == 16 and ev.current(5.9) == 0
    ev.soc = 0.9
    assert 10 < ev.current(32) < 32
    wh = ev.charge(16, 3600)
    assert 0 < wh <= 0.1 * 60_000 + 1e-6 and ev.full


async def wait_for(predicate, limit: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + limit
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("not reached in time")


async def drawing_more_than(api: Any, station_id: str, watts: float) -> bool:
    """An active session on the station whose latest power reading is above ``watts``."""
    rows = (await api.get("/api/v1/sessions", params={"status": "active", "station_id": station_id})).json()
    return bool(rows) and rows[0]["power_w"] is not None and float(rows[0]["power_w"]) > watts


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_simulated_station_charges_and_obeys_a_profile_after_a_delay(server: Server, version: str) -> None:
    station = await server.new_station("SIM")
    await server.add_badge("SIMBADGE")
    plan = StationPlan(station["identity"], station["password"], version, badge="SIMBADGE", meter_seconds=0.5,
                       arrival_seconds=(0.1, 0.2), stay_seconds=(600, 600), profile_delay_seconds=0.5, seed=7)  # fmt: skip
    sim = VirtualStation(plan, server.ws_url)
    stop = asyncio.Event()
    runner = asyncio.create_task(sim.run(stop))
    try:
        async with server.api() as api:

            async def charging() -> bool:
                return await drawing_more_than(api, station["id"], 3000)

            await wait_for(charging)
            limit = {"unit": "A", "periods": [[0, 6]], "number_phases": 3}
            answer = await api.post(f"/api/v1/stations/{station['id']}/commands",
                                    json={"name": "set_charging_profile", "arguments": {"connector": 1, "evse": 1, "limit": limit}})  # fmt: skip
            assert answer.json()["accepted"], answer.text

            async def obeyed() -> bool:
                rows = (
                    await api.get("/api/v1/sessions", params={"status": "active", "station_id": station["id"]})
                ).json()
                return bool(rows) and rows[0]["power_w"] is not None and float(rows[0]["power_w"]) <= 6 * 230 * 3

            await wait_for(obeyed)
            session_id = (await api.get("/api/v1/sessions", params={"station_id": station["id"]})).json()[0]["id"]
            stop_tx = (await api.get(f"/api/v1/sessions/{session_id}")).json()["transaction_id"]
            stopped = await api.post(f"/api/v1/stations/{station['id']}/commands",
                                     json={"name": "remote_stop", "arguments": {"transaction_id": stop_tx}})  # fmt: skip
            assert stopped.json()["accepted"], stopped.text

            async def completed() -> bool:
                return (await api.get(f"/api/v1/sessions/{session_id}")).json()["status"] == "completed"

            await wait_for(completed)
            done = (await api.get(f"/api/v1/sessions/{session_id}")).json()
            assert float(done["energy_wh"]) > 0 and done["stop_reason"] == "Remote"
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)


async def test_a_station_that_ignores_profiles_says_accepted_and_keeps_drawing(server: Server) -> None:
    station = await server.new_station("IGN")
    await server.add_badge("SIMBADGE")
    plan = StationPlan(station["identity"], station["password"], "1.6", badge="SIMBADGE", meter_seconds=0.5,
                       arrival_seconds=(0.1, 0.2), stay_seconds=(600, 600), faults=Faults(ignore_profiles=True), seed=3)  # fmt: skip
    sim = VirtualStation(plan, server.ws_url)
    stop = asyncio.Event()
    runner = asyncio.create_task(sim.run(stop))
    try:
        async with server.api() as api:

            async def charging() -> bool:
                return await drawing_more_than(api, station["id"], 3000)

            await wait_for(charging)
            limit = {"unit": "A", "periods": [[0, 6]]}
            answer = await api.post(
                f"/api/v1/stations/{station['id']}/commands",
                json={"name": "set_charging_profile", "arguments": {"connector": 1, "limit": limit}},
            )
            assert answer.json()["accepted"]
            await asyncio.sleep(2)
            assert await charging(), "still drawing its full current"
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)


async def test_stations_and_badges_import_from_csv_with_a_report(server: Server, tmp_path: Path) -> None:
    stations = tmp_path / "stations.csv"
    stations.write_text(
        "id,password,site,evses,connector_type,max_power_kw\n"
        "IMP-001,imported-password-001,Depot Noord,2,IEC_62196_T2,22\n"
        "IMP-002,imported-password-002,Depot Noord,1,IEC_62196_T2_COMBO,150\n"
        "IMP-003,short,Depot Zuid,,,\n"
        "IMP-001,imported-password-001,Depot Noord,,,\n"
        "IMP-004,imported-password-004,,,,\n"
        "IMP-005,imported-password-005,Depot Zuid,1,USB_C,\n"
    )
    result = await asyncio.to_thread(run_cpo, ["stations", "import", str(stations)], server.platform.env)
    assert result.returncode == 4, result.stderr  # some lines refused
    assert "created or updated: 2" in result.stdout and "new site 'Depot Noord'" in result.stdout
    assert "Depot Zuid" not in result.stdout, "a site is only created with a station that made it"
    refused = [line for line in result.stderr.splitlines() if line.startswith("refused")]
    assert [line.split(":")[0] for line in refused] == [
        "refused line 4",
        "refused line 5",
        "refused line 6",
        "refused line 7",
    ]
    assert "password" in refused[0] and "exists" in refused[1] and "connector_type" in refused[3]

    badges = tmp_path / "badges.csv"
    badges.write_text(
        "uid,user_email,user_name,kind,department,cost_centre,status\n"
        "04:a1:b2:c3,An@Example.com,An Peeters,employee,Sales,CC-100,valid\n"
        "DEADBEEF,,,,,,blocked\n"
        ",x@example.com,,,,,\n"
        "c3b2a104,an@example.com,,,,,\n"  # the same card, read in the other byte order
        "CAFEBABE,someone,,,,,\n"
    )
    first = await asyncio.to_thread(run_cpo, ["badges", "import", str(badges)], server.platform.env)
    assert "created or updated: 3 (2 new, 1 new holder(s))" in first.stdout, first.stdout
    assert "refused line 4" in first.stderr and "refused line 6" in first.stderr
    again = await asyncio.to_thread(run_cpo, ["badges", "import", str(badges)], server.platform.env)
    assert "created or updated: 3 (0 new)" in again.stdout

    async with server.api() as api:
        (holder,) = (await api.get("/api/v1/people", params={"user_name": "an@example.com"})).json()
        assert holder["name"] == "An Peeters" and holder["kind"] == "employee"
        groups = {g["id"]: g for g in (await api.get("/api/v1/groups")).json()}
        assert groups[holder["department_id"]]["name"] == "Sales" and groups[holder["cost_centre_id"]]["kind"] == (
            "cost_centre"
        )
        (card,) = (await api.get("/api/v1/badges", params={"person_id": holder["id"]})).json()
        assert card["uid"] == "C3B2A104" and card["status"] == "active"
        stations = {s["identity"]: s for s in (await api.get("/api/v1/stations")).json()}
        evses = (await api.get(f"/api/v1/stations/{stations['IMP-001']['id']}/evses")).json()
        assert [e["ocpp_evse_id"] for e in evses] == [1, 2]
        connectors = (await api.get(f"/api/v1/evses/{evses[0]['id']}/connectors")).json()
        assert connectors[0]["max_electric_power"] == 22000 and connectors[0]["power_type"] == "AC_3_PHASE"
        dc = (await api.get(f"/api/v1/stations/{stations['IMP-002']['id']}/evses")).json()
        dc_connector = (await api.get(f"/api/v1/evses/{dc[0]['id']}/connectors")).json()[0]
        assert dc_connector["power_type"] == "DC" and dc_connector["format"] == "CABLE"


async def test_people_import_reports_what_would_change_before_changing_it(server: Server, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text(
        "email,name,kind,department,cost_centre\n"
        "els@acme.example,Els Claes,employee,Finance,CC-200\n"
        "tom@acme.example,Tom Maes,visitor,,\n"
        "broken,Nobody,,,\n"
        "kim@acme.example,,employee,,\n"
    )
    dry = await asyncio.to_thread(run_cpo, ["people", "import", str(people), "--dry-run"], server.platform.env)
    assert "dry run" in dry.stdout and "new people: 2" in dry.stdout and "+ els@acme.example" in dry.stdout
    assert "new group: department: Finance" in dry.stdout
    assert "refused line 4" in dry.stderr and "refused line 5" in dry.stderr and dry.returncode == 4
    async with server.api() as api:
        assert (await api.get("/api/v1/people", params={"user_name": "els@acme.example"})).json() == []
        assert not [g for g in (await api.get("/api/v1/groups")).json() if g["name"] == "Finance"]

    done = await asyncio.to_thread(run_cpo, ["people", "import", str(people)], server.platform.env)
    assert "imported" in done.stdout and "new people: 2" in done.stdout
    people.write_text(
        "email,name,kind,department\nels@acme.example,Els Claes,employee,Sales\ntom@acme.example,Tom Maes,visitor,\n"
    )
    again = await asyncio.to_thread(run_cpo, ["people", "import", str(people), "--dry-run"], server.platform.env)
    assert "~ els@acme.example: department" in again.stdout and "unchanged: 1" in again.stdout, again.stdout
    async with server.api() as api:
        (els,) = (await api.get("/api/v1/people", params={"user_name": "els@acme.example"})).json()
        groups = {g["id"]: g["name"] for g in (await api.get("/api/v1/groups")).json()}
        assert groups[els["department_id"]] == "Finance" and groups[els["cost_centre_id"]] == "CC-200"
