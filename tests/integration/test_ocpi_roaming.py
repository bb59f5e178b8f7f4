"""A roaming partner's drivers at our stations: tokens pushed over OCPI, honoured by whitelist (and asked in
real time), sessions classed roaming and billed to the partner with the tariff published to them.

A real ``cpo serve``, the ``ocpp`` package's charge point, and the eMSP harness over real HTTP.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from ocpp.v16 import call
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ocpi.push import NOT_ACCEPTED
from tests.emsp_harness import Emsp, serve_emsp
from tests.integration.ocpp_support import Server, connect, start_server
from tests.integration.test_tariffs_ocpp import cdr_of, session_id_of

LAST_UPDATED = "2026-11-20T10:00:00Z"


@pytest.fixture(scope="module")
def emsp() -> Iterator[Emsp]:
    with serve_emsp() as harness:
        yield harness


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("roaming"), module_db_url, CPO_OUTBOX_POLL_SECONDS="0.5")
    yield running
    assert running.platform.stop() == 0


def ocpi(token: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


async def registered_partner(server: Server, emsp: Emsp) -> str:
    """The harness registers with the platform the way an eMSP does: Token A, then its credentials."""
    async with server.api() as api:
        invited = (await api.post("/api/v1/roaming-partners/invite", json={"name": "Harness"})).json()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        answer = await http.post("/ocpi/2.2.1/credentials", json=emsp.credentials(),
                                 headers=ocpi(invited["token_a"]))  # fmt: skip
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["token"])


def token_body(uid: str, whitelist: str = "ALLOWED", valid: bool = True) -> dict[str, Any]:
    return {"country_code": "NL", "party_id": "TNM", "uid": uid, "type": "RFID", "contract_id": f"NL-TNM-C{uid}",
            "issuer": "Harness", "valid": valid, "whitelist": whitelist, "last_updated": LAST_UPDATED}  # fmt: skip


async def test_a_partners_driver_charges_and_the_cdr_goes_to_the_partner_at_their_tariff(
    server: Server, emsp: Emsp
) -> None:
    ours = await registered_partner(server, emsp)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for uid, whitelist, valid in (("AB12CD34", "ALLOWED", True), ("B10C4ED0", "ALWAYS", False),
                                      ("ASKME001", "NEVER", True), ("NOPE0001", "NEVER", True)):  # fmt: skip
            pushed = await http.put(f"/ocpi/2.2.1/tokens/NL/TNM/{uid}", json=token_body(uid, whitelist, valid),
                                    headers=ocpi(ours))  # fmt: skip
            assert pushed.status_code == 200 and pushed.json()["status_code"] == 1000, pushed.text
        mismatch = await http.put("/ocpi/2.2.1/tokens/NL/TNM/OTHER", json=token_body("AB12CD34"), headers=ocpi(ours))
        assert mismatch.json()["status_code"] == 2001
        foreign = await http.put("/ocpi/2.2.1/tokens/DE/XYZ/AB12CD34", json=token_body("AB12CD34"), headers=ocpi(ours))
        assert foreign.json()["status_code"] == 2001
        unknown = await http.get("/ocpi/2.2.1/tokens/NL/TNM/NOSUCH", headers=ocpi(ours))
        assert unknown.status_code == 404 and unknown.json()["status_code"] == 2004
        patched = await http.patch("/ocpi/2.2.1/tokens/NL/TNM/AB12CD34", headers=ocpi(ours),
                                   json={"visual_number": "TNM-0001", "last_updated": LAST_UPDATED})  # fmt: skip
        assert patched.json()["status_code"] == 1000
        stored = (await http.get("/ocpi/2.2.1/tokens/NL/TNM/AB12CD34", headers=ocpi(ours))).json()["data"]
        assert stored["visual_number"] == "TNM-0001" and stored["whitelist"] == "ALLOWED"

    async with server.api() as api:
        for code, price, audience, partner in (("PUB", "0.45", "public", None), ("TNM", "0.39", "roaming", "NLTNM")):
            made = await api.post("/api/v1/tariffs", json={
                "code": code, "name": code, "currency": "EUR", "valid_from": "2026-01-01T00:00:00Z",
                "body": {"elements": [{"price_components": [{"type": "ENERGY", "price": price, "vat": "21",
                                                             "step_size": 1}]}]}})  # fmt: skip
            assign = {"tariff_id": made.json()["id"], "audience": audience} | ({"partner": partner} if partner else {})
            assert (await api.post("/api/v1/tariff-assignments", json=assign)).status_code == 201

    station = await server.new_station()
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        allowed = await cp.call(call.Authorize(id_tag="ab12cd34"))
        blocked = await cp.call(call.Authorize(id_tag="B10C4ED0"))
        asked_yes = await cp.call(call.Authorize(id_tag="ASKME001"))
        asked_no = await cp.call(call.Authorize(id_tag="NOPE0001"))
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="AB12CD34", meter_start=0,
                                                      timestamp="2026-11-24T10:00:00Z"))  # fmt: skip
        # pushes carry the state when they go out: let the ACTIVE one leave before the session ends
        from tests.integration.test_access_ocpp import eventually

        await eventually(lambda: any(m == "PUT" and "/sessions/" in p and b["status"] == "ACTIVE"
                                     for m, p, b in emsp.received), 20)  # fmt: skip
        await cp.call(call.StopTransaction(meter_stop=10_000, timestamp="2026-11-24T11:00:00Z",
                                           transaction_id=started.transaction_id))  # fmt: skip
    assert allowed.id_tag_info["status"] == "Accepted"
    assert blocked.id_tag_info["status"] == "Blocked"
    assert asked_yes.id_tag_info["status"] == "Accepted"
    assert asked_no.id_tag_info["status"] == "Invalid"
    assert {path for method, path, _ in emsp.received if path.endswith("/authorize")} == {
        "/tokens/ASKME001/authorize", "/tokens/NOPE0001/authorize"}, "only NEVER tokens are asked in real time"  # fmt: skip

    session = await session_id_of(server, str(started.transaction_id))
    assert (session["session_class"], session["payer"]) == ("roaming", "emsp")
    cdr = await cdr_of(server, session["id"])
    assert (cdr["session_class"], cdr["payer"], cdr["partner"]) == ("roaming", "emsp", "NLTNM")
    assert cdr["tariff"]["id"] == "TNM" and Decimal(cdr["total_cost"]["excl_vat"]) == Decimal("3.90")


async def test_every_change_reaches_the_partner_once_in_the_shape_the_schemas_want(server: Server, emsp: Emsp) -> None:
    """Sessions (PUT), CDRs (POST, once), tariffs (PUT), locations (PUT) and EVSE status (PATCH) are pushed."""
    from tests.integration.test_access_ocpp import eventually
    from tests.ocpi_schemas import errors

    async def received(method: str, part: str) -> list[Any]:
        return [body for m, path, body in emsp.received if m == method and part in path]

    # the earlier test's session and CDR went to the partner: each once, valid
    async def pushed() -> bool:
        return bool(await received("POST", "/cdrs")) and len(await received("PUT", "/sessions/")) >= 2

    try:
        await eventually(pushed, 20)
    except AssertionError:
        raise AssertionError(f"pushed so far: {[(m, p, b) for m, p, b in emsp.received if m == 'PATCH']}") from None
    cdrs = await received("POST", "/cdrs")
    assert len(cdrs) == 1 and errors(cdrs[0], "2.2.1", "cdrs", "CDR") == []
    assert cdrs[0]["cdr_token"]["uid"] == "AB12CD34" and cdrs[0]["total_cost"]["excl_vat"] == 3.9
    for body in await received("PUT", "/sessions/"):
        assert errors(body, "2.2.1", "sessions", "Session") == [], body
    assert {b["status"] for b in await received("PUT", "/sessions/")} >= {"ACTIVE", "COMPLETED"}
    tariffs = await received("PUT", "/tariffs/")
    assert {t["id"] for t in tariffs} >= {"TNM", "PUB"}
    for body in tariffs:
        assert errors(body, "2.2.1", "tariffs", "Tariff") == []

    # a published site with a public EVSE: its location goes out, then its status as a PATCH
    async with server.api() as api:
        site = (await api.post("/api/v1/sites", json={**SITE_PUBLIC})).json()
        station = (await api.post("/api/v1/stations", json={"site_id": site["id"], "identity": "PUB-1",
                                                              "password": "station-password-01"})).json()  # fmt: skip
        evse = (await api.post(f"/api/v1/stations/{station['id']}/evses", json={"ocpp_evse_id": 1, "public": True,
                                                                                "evse_id": "NL*CPO*E0001"})).json()  # fmt: skip
        await api.post(f"/api/v1/evses/{evse['id']}/connectors", json={
            "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 400,
            "max_amperage": 32})  # fmt: skip

    async def located() -> bool:
        return any(site["id"] in path for m, path, _ in emsp.received if m == "PUT" and "/locations/" in path)

    try:
        await eventually(located, 20)
    except AssertionError:
        raise AssertionError(f"pushed so far: {[(m, p, b) for m, p, b in emsp.received if m == 'PATCH']}") from None
    location = [b for m, p, b in emsp.received if m == "PUT" and p.endswith(site["id"])][-1]
    assert errors(location, "2.2.1", "locations", "Location") == []
    assert location["facilities"] == ["SUPERMARKET", "WIFI"] and location["parking_type"] == "PARKING_GARAGE"
    assert location["energy_mix"]["is_green_energy"] and len(location["energy_mix"]["energy_sources"]) == 2
    # another rate at this site: the partner gets the location again, with the new tariff id
    async with server.api() as api:
        made = await api.post("/api/v1/tariffs", json={
            "code": "PLAZA", "name": "Plaza", "currency": "EUR", "valid_from": "2026-01-01T00:00:00Z",
            "body": {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.49", "vat": "21",
                                                         "step_size": 1}]}]}})  # fmt: skip
        assert (await api.post("/api/v1/tariff-assignments", json={
            "tariff_id": made.json()["id"], "audience": "public", "site_id": site["id"]})).status_code == 201  # fmt: skip

    async def repriced() -> bool:
        return any(m == "PUT" and p.endswith(site["id"]) and b["evses"] and
                   b["evses"][0]["connectors"][0].get("tariff_ids") == ["PLAZA"] for m, p, b in emsp.received)  # fmt: skip

    await eventually(repriced, 20)
    async with server.api() as api:
        muddled = SITE_PUBLIC | {"energy_mix": {"is_green_energy": True, "energy_sources": [
            {"source": "WIND", "percentage": 60}]}}  # fmt: skip
        refused = await api.post("/api/v1/sites", json=muddled)
        assert refused.status_code == 400 and "100" in refused.text, refused.text
        unknown = await api.post("/api/v1/sites", json=SITE_PUBLIC | {"facilities": ["CASINO"]})
        assert unknown.status_code == 400 and "facilities" in unknown.text, unknown.text

    async def patched() -> bool:
        return any(m == "PATCH" and path.endswith(evse["uid"]) and body.get("status") == "CHARGING"
                   for m, path, body in emsp.received)  # fmt: skip

    async with connect(server, station | {"password": "station-password-01"}) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        before_status = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        # connected the while: the push reads the state when it goes out (offline would be UNKNOWN)
        await eventually(patched, 20)
        # a partner catching up with date_from sees the location again: its status changed, so did the location
        ours = await registered_again(server, emsp)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            since = (await http.get("/ocpi/2.2.1/locations", params={"date_from": before_status},
                                    headers=ocpi(ours))).json()["data"]  # fmt: skip
        gone_at = len(emsp.received)
    patch_body = next(b for m, p, b in emsp.received if m == "PATCH" and p.endswith(evse["uid"]) and
                      b["status"] == "CHARGING")  # fmt: skip
    assert errors(patch_body, "2.2.1", "locations", "EVSEPatch") == []

    # the station goes away: its EVSE is UNKNOWN now, and the partner hears so
    async def unknown_now() -> bool:
        return any(m == "PUT" and p.endswith(site["id"]) and b["evses"] and b["evses"][0]["status"] == "UNKNOWN"
                   for m, p, b in emsp.received[gone_at:])  # fmt: skip

    await eventually(unknown_now, 20)
    (caught_up,) = [loc for loc in since if loc["id"] == site["id"]]
    assert caught_up["evses"][0]["status"] == "CHARGING" and caught_up["last_updated"] >= before_status[:19]
    assert all(loc["last_updated"] >= before_status[:19] for loc in since), "only what changed since"


SITE_PUBLIC = {"name": "Roaming plaza", "address": "Dam 1", "city": "Amsterdam", "country": "NLD",
               "latitude": 52.373, "longitude": 4.8932, "time_zone": "Europe/Amsterdam", "publish": True,
               "facilities": ["WIFI", "SUPERMARKET"], "parking_type": "PARKING_GARAGE",
               "energy_mix": {"is_green_energy": True, "energy_sources": [{"source": "WIND", "percentage": 60},
                              {"source": "SOLAR", "percentage": 40}], "supplier_name": "Groene Stroom BV"}}  # fmt: skip


async def test_a_partner_starts_stops_and_reserves_by_command_and_hears_the_outcome(server: Server, emsp: Emsp) -> None:
    from tests.integration.test_access_ocpp import eventually

    ours = await registered_again(server, emsp)
    async with server.api() as api:
        site = (await api.post("/api/v1/sites", json=SITE_PUBLIC | {"name": "Command plaza"})).json()
        station = (await api.post("/api/v1/stations", json={"site_id": site["id"], "identity": "CMD-1",
                                                              "password": "station-password-02"})).json()  # fmt: skip
        evse = (await api.post(f"/api/v1/stations/{station['id']}/evses", json={"ocpp_evse_id": 1, "public": True,
                                                                                "evse_id": "NL*CPO*E0002"})).json()  # fmt: skip
    token = token_body("APP00001") | {"type": "APP_USER"}
    async with connect(server, station | {"password": "station-password-02"}) as cp, \
            httpx.AsyncClient(base_url=server.url, timeout=30) as http:  # fmt: skip
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        start = {"response_url": f"{emsp.url}/2.2.1/commands/START_SESSION/1", "token": token,
                 "location_id": site["id"], "evse_uid": evse["uid"]}  # fmt: skip
        answered = await http.post("/ocpi/2.2.1/commands/START_SESSION", json=start, headers=ocpi(ours))
        assert answered.status_code == 200, answered.text
        assert answered.json()["data"]["result"] == "ACCEPTED" and answered.json()["data"]["timeout"] > 0
        from tests.ocpi_schemas import errors

        assert errors(answered.json()["data"], "2.2.1", "commands", "CommandResponse") == []

        async def result_of(path: str) -> bool:
            return any(m == "POST" and p.endswith(path) for m, p, _ in emsp.received)

        await eventually(lambda: result_of("/commands/START_SESSION/1"), 20)
        outcome = next(b for m, p, b in emsp.received if p.endswith("/commands/START_SESSION/1"))
        assert outcome == {"result": "ACCEPTED"} and errors(outcome, "2.2.1", "commands", "CommandResult") == []
        assert cp.received[-1][0] == "RemoteStartTransaction" and cp.received[-1][1]["id_tag"] == "APP00001"
        # the station starts as asked: the session is the partner's
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="APP00001", meter_start=0,
                                                      timestamp="2026-11-25T10:00:00Z"))  # fmt: skip
        assert started.id_tag_info["status"] == "Accepted"
        session = await session_id_of(server, str(started.transaction_id))
        assert session["session_class"] == "roaming"
        # a smart-charging partner limits the session: the station gets a transaction profile
        profile = {"response_url": f"{emsp.url}/2.2.1/chargingprofiles/result/3", "charging_profile": {
            "charging_rate_unit": "A", "charging_profile_period": [{"start_period": 0, "limit": 16}]}}  # fmt: skip
        limited = await http.put(f"/ocpi/2.2.1/chargingprofiles/{session['id']}", json=profile, headers=ocpi(ours))
        assert limited.json()["data"]["result"] == "ACCEPTED"
        assert errors(limited.json()["data"], "2.2.1", "chargingprofiles", "ChargingProfileResponse") == []
        await eventually(lambda: result_of("/chargingprofiles/result/3"), 20)
        assert next(b for m, p, b in emsp.received if p.endswith("/result/3")) == {"result": "ACCEPTED"}
        assert cp.received[-1][0] == "SetChargingProfile"
        assert cp.received[-1][1]["charging_schedule"]["charging_schedule_period"][0]["limit"] == 16
        stranger = await http.put("/ocpi/2.2.1/chargingprofiles/00000000-0000-0000-0000-000000000000", json=profile,
                                  headers=ocpi(ours))  # fmt: skip
        assert stranger.json()["data"]["result"] == "UNKNOWN_SESSION"
        stop = {"response_url": f"{emsp.url}/2.2.1/commands/STOP_SESSION/2", "session_id": session["id"]}
        stopped = await http.post("/ocpi/2.2.1/commands/STOP_SESSION", json=stop, headers=ocpi(ours))
        assert stopped.json()["data"]["result"] == "ACCEPTED"
        await eventually(lambda: result_of("/commands/STOP_SESSION/2"), 20)
        assert cp.received[-1][0] == "RemoteStopTransaction"
        # the station stops as asked: the session's CDR goes to the partner
        await cp.call(call.StopTransaction(meter_stop=7_500, timestamp="2026-11-25T10:45:00Z",
                                           transaction_id=started.transaction_id))  # fmt: skip

        async def cdr_delivered() -> bool:
            return any(m == "POST" and p.endswith("/cdrs") and b["session_id"] == session["id"]
                       for m, p, b in emsp.received)  # fmt: skip

        await eventually(cdr_delivered, 20)
        cdr = next(b for m, p, b in emsp.received if m == "POST" and p.endswith("/cdrs") and
                   b["session_id"] == session["id"])  # fmt: skip
        assert cdr["total_energy"] == 7.5 and cdr["cdr_token"]["uid"] == "APP00001"
        assert errors(cdr, "2.2.1", "cdrs", "CDR") == []

        # the partner pulls every list page by page: nothing missed, nothing twice, each object valid
        for module, schema in (("locations", "Location"), ("tariffs", "Tariff"), ("sessions", "Session"),
                               ("cdrs", "CDR")):  # fmt: skip
            pulled = await pull_all(http, f"/ocpi/2.2.1/{module}?limit=1", ours)
            assert pulled, module
            assert all(errors(item, "2.2.1", module, schema) == [] for item in pulled), module
        assert session["id"] in {s["id"] for s in await pull_all(http, "/ocpi/2.2.1/sessions?limit=1", ours)}

        unlock = {"response_url": f"{emsp.url}/2.2.1/commands/UNLOCK_CONNECTOR/7", "location_id": site["id"],
                  "evse_uid": evse["uid"], "connector_id": "1"}  # fmt: skip
        unlocked = await http.post("/ocpi/2.2.1/commands/UNLOCK_CONNECTOR", json=unlock, headers=ocpi(ours))
        assert unlocked.json()["data"]["result"] == "ACCEPTED"
        await eventually(lambda: result_of("/commands/UNLOCK_CONNECTOR/7"), 20)
        assert next(b for m, p, b in emsp.received if p.endswith("/UNLOCK_CONNECTOR/7")) == {"result": "ACCEPTED"}
        assert cp.received[-1] == ("UnlockConnector", {"connector_id": 1})

        # a reservation: the station gets our own integer id, never the partner's (non-numeric here)
        reserve = {"response_url": f"{emsp.url}/2.2.1/commands/RESERVE_NOW/4", "token": token,
                   "expiry_date": "2026-11-25T12:00:00Z", "reservation_id": "Res-A1", "location_id": site["id"],
                   "evse_uid": evse["uid"]}  # fmt: skip
        reserved = await http.post("/ocpi/2.2.1/commands/RESERVE_NOW", json=reserve, headers=ocpi(ours))
        assert reserved.json()["data"]["result"] == "ACCEPTED", reserved.text
        await eventually(lambda: result_of("/commands/RESERVE_NOW/4"), 20)
        assert next(b for m, p, b in emsp.received if p.endswith("/RESERVE_NOW/4")) == {"result": "ACCEPTED"}
        assert cp.received[-1][0] == "ReserveNow" and cp.received[-1][1]["id_tag"] == "APP00001"
        station_id_for_it = cp.received[-1][1]["reservation_id"]
        # the same reservation_id again replaces it (the same id at the station)
        again = await http.post("/ocpi/2.2.1/commands/RESERVE_NOW", headers=ocpi(ours), json=reserve | {
            "response_url": f"{emsp.url}/2.2.1/commands/RESERVE_NOW/5", "reservation_id": "RES-a1"})  # fmt: skip
        assert again.json()["data"]["result"] == "ACCEPTED"
        await eventually(lambda: result_of("/commands/RESERVE_NOW/5"), 20)
        assert cp.received[-1][1]["reservation_id"] == station_id_for_it
        cancel = {"response_url": f"{emsp.url}/2.2.1/commands/CANCEL_RESERVATION/6", "reservation_id": "res-a1"}
        cancelled = await http.post("/ocpi/2.2.1/commands/CANCEL_RESERVATION", json=cancel, headers=ocpi(ours))
        assert cancelled.json()["data"]["result"] == "ACCEPTED", cancelled.text
        await eventually(lambda: result_of("/commands/CANCEL_RESERVATION/6"), 20)
        assert next(b for m, p, b in emsp.received if p.endswith("/CANCEL_RESERVATION/6")) == {"result": "ACCEPTED"}
        assert cp.received[-1] == ("CancelReservation", {"reservation_id": station_id_for_it})
        # cancelled once: a second cancel, or an id never reserved, is refused at once
        for unknown_id in ("res-a1", "never-made"):
            refused = await http.post("/ocpi/2.2.1/commands/CANCEL_RESERVATION", headers=ocpi(ours),
                                      json=cancel | {"reservation_id": unknown_id})  # fmt: skip
            assert refused.json()["data"]["result"] == "REJECTED"
            assert errors(refused.json()["data"], "2.2.1", "commands", "CommandResponse") == []

        nowhere = await http.post("/ocpi/2.2.1/commands/START_SESSION", headers=ocpi(ours),
                                  json=start | {"location_id": "00000000-0000-0000-0000-000000000000"})  # fmt: skip
        assert nowhere.status_code == 404 and nowhere.json()["status_code"] == 2003
        unknown = await http.post("/ocpi/2.2.1/commands/STOP_SESSION", headers=ocpi(ours),
                                  json=stop | {"session_id": "00000000-0000-0000-0000-000000000000"})  # fmt: skip
        assert unknown.json()["data"]["result"] == "UNKNOWN_SESSION"
        broken = await http.post("/ocpi/2.2.1/commands/START_SESSION", json={"token": 1}, headers=ocpi(ours))
        assert broken.json()["status_code"] == 2001

        # behind a hub: the parties it serves and their state
        info = {"party_id": "ABC", "country_code": "DE", "role": "EMSP", "status": "CONNECTED",
                "last_updated": LAST_UPDATED}  # fmt: skip
        assert (await http.put("/ocpi/2.2.1/hubclientinfo/DE/ABC", json=info, headers=ocpi(ours))).json()[
            "status_code"] == 1000  # fmt: skip
        stored = (await http.get("/ocpi/2.2.1/hubclientinfo/DE/ABC", headers=ocpi(ours))).json()["data"]
        assert stored["status"] == "CONNECTED" and errors(stored, "2.2.1", "hubclientinfo", "ClientInfo") == []


async def pull_all(http: httpx.AsyncClient, path: str, token: str) -> list[dict[str, Any]]:
    """Every page of a list, following ``Link: rel="next"``; checks the count and that no id comes twice."""
    items: list[dict[str, Any]] = []
    url: str | None = path
    total = None
    while url:
        page = await http.get(url, headers=ocpi(token))
        assert page.status_code == 200 and page.json()["status_code"] == 1000, page.text
        total = int(page.headers["x-total-count"])
        items.extend(page.json()["data"])
        link = page.headers.get("link")
        url = link[link.index("<") + 1 : link.index(">")] if link else None
    assert total == len(items), f"{path}: {len(items)} of {total}"
    keys = [item.get("id") or item.get("uid") for item in items]
    assert len(set(keys)) == len(keys), f"{path}: an object came twice"
    return items


async def registered_again(server: Server, emsp: Emsp) -> str:
    """The partner registered in the first test is the one registered now: a second invitation would clash
    on its country code and party id (its parties stay its own), so it is unregistered, invited again on its
    own record, and registers afresh."""
    async with server.api() as api:
        partners = (await api.get("/api/v1/roaming-partners")).json()
        harness = next(p for p in partners if f"NL*{emsp.party_id}" in p["parties"])
        if harness["status"] == "registered":
            await api.delete(f"/api/v1/roaming-partners/{harness['id']}")
        invited = (await api.post(f"/api/v1/roaming-partners/{harness['id']}/invite")).json()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        answer = await http.post("/ocpi/2.2.1/credentials", json=emsp.credentials(),
                                 headers=ocpi(invited["token_a"]))  # fmt: skip
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["token"])


async def test_a_partner_that_is_down_gets_the_push_later_and_the_others_get_it_once(
    server: Server, db: async_sessionmaker[AsyncSession]
) -> None:
    from tests.integration.test_access_ocpp import eventually

    with serve_emsp("TNA") as up, serve_emsp("TNB") as down:
        down.refusing = True
        await registered_partner(server, up)
        await registered_partner(server, down)

        async def published_site(name: str) -> dict[str, Any]:
            async with server.api() as api:
                made = (await api.post("/api/v1/sites", json={**SITE_PUBLIC, "name": name})).json()
                station = (await api.post("/api/v1/stations", json={"site_id": made["id"], "identity": name.upper(),
                                                                      "password": "station-password-02"})).json()  # fmt: skip
                evse = (await api.post(f"/api/v1/stations/{station['id']}/evses", json={
                    "ocpp_evse_id": 1, "public": True, "evse_id": f"NL*CPO*E{name.upper()}"})).json()  # fmt: skip
                await api.post(f"/api/v1/evses/{evse['id']}/connectors", json={
                    "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 400,
                    "max_amperage": 32})  # fmt: skip
            return dict(made)

        site = await published_site("Harbour")

        def puts(harness: Emsp) -> int:
            return sum(1 for m, path, _ in harness.received if m == "PUT" and path.endswith(site["id"]))

        def refusals() -> int:
            return sum(1 for _, path in down.refused if path.endswith(site["id"]))

        await eventually(lambda: refusals() >= 4, 30)  # the partner that is down: asked again and again
        async with db() as session:
            shown = (await session.execute(text("SELECT last_error FROM outbox_events WHERE last_error IS NOT NULL"))).scalars().all()  # fmt: skip
        # what the admin sees of a refusal is one text: the partner's status (503) is in the log only
        assert any(NOT_ACCEPTED in error for error in shown) and not any("HTTP 503" in error for error in shown), shown
        taken = puts(up)
        assert taken >= 1
        seen = refusals()
        await eventually(lambda: refusals() >= seen + 2, 30)
        assert puts(up) == taken, "the partner that took it is not sent it again with every retry"
        down.refusing = False
        await eventually(lambda: puts(down) >= 1, 30)
        assert puts(up) == taken

        # a rate for every site at once (for one partner's drivers): every published location goes out again
        other = await published_site("Quay")
        async with server.api() as api:
            made = await api.post("/api/v1/tariffs", json={
                "code": "EVERYWHERE", "name": "Everywhere", "currency": "EUR", "valid_from": "2026-01-01T00:00:00Z",
                "body": {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.51", "vat": "21",
                                                             "step_size": 1}]}]}})  # fmt: skip
            assigned = await api.post("/api/v1/tariff-assignments", json={
                "tariff_id": made.json()["id"], "audience": "roaming", "partner": "NLTNA"})  # fmt: skip
            assert assigned.status_code == 201, assigned.text

        def repriced(harness: Emsp) -> set[str]:
            return {path.rsplit("/", 1)[1] for m, path, body in harness.received if m == "PUT" and "/locations/" in path
                    and any("EVERYWHERE" in (c.get("tariff_ids") or []) for e in body["evses"]
                            for c in e["connectors"])}  # fmt: skip

        both = {site["id"], other["id"]}
        await eventually(lambda: both <= repriced(up), 30)
        assert not repriced(down), "each partner's copy carries its own tariffs"
