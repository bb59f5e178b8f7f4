"""Who a roaming partner may act for: the parties fixed when it is invited or first registered, checked on every
credentials exchange, token push and command; tokens kept per partner; sessions and CDRs shown by partner id.
Bad input on the OCPI interfaces gets an OCPI envelope (2001), never a 500 or problem details.

The platform runs in-process; the eMSPs are harnesses served over real HTTP (they answer real-time
authorization as they are told).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.access.service import Authorization, authorize
from cpo.charging.commands import Command, CommandResult
from cpo.charging.sessions import start_transaction_16
from cpo.cli import main
from cpo.roaming import service as roaming
from cpo.roaming.models import RoamingReservation, RoamingToken
from cpo.roaming.sealing import sealer_for
from cpo.settings import Settings
from cpo.sites.models import Station
from tests.conftest import SITE, Tenancy, shared_specs
from tests.emsp_harness import Emsp, serve_emsp
from tests.ocpi_schemas import _registry, errors

Client = AsyncTestClient[Litestar]
LATE = "2030-01-01T00:00:00Z"


def token(value: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(value.encode()).decode()}


def role(party: str, country: str = "NL") -> dict[str, Any]:
    return {"role": "EMSP", "party_id": party, "country_code": country, "business_details": {"name": party}}


def token_body(uid: str, party: str, last_updated: str = "2026-11-20T10:00:00Z", **more: Any) -> dict[str, Any]:
    return {"country_code": "NL", "party_id": party, "uid": uid, "type": "RFID", "contract_id": f"NL-{party}-{uid}",
            "issuer": party, "valid": True, "whitelist": "ALLOWED", "last_updated": last_updated} | more  # fmt: skip


@pytest.fixture
def vic() -> Iterator[Emsp]:
    with serve_emsp("VIC", call_back=False) as harness:
        harness.allow_realtime = set()
        yield harness


@pytest.fixture
def xyz() -> Iterator[Emsp]:
    with serve_emsp("XYZ", call_back=False) as harness:
        harness.allow_realtime = set()
        yield harness


async def invite(sessions: async_sessionmaker[AsyncSession], settings: Settings, tenant: Tenancy, name: str) -> str:
    async with sessions() as session, session.begin():
        _, token_a = await roaming.invite(session, tenant.id, name, sealer_for(settings))
    return token_a


async def register(client: Client, token_a: str, emsp: Emsp, roles: list[dict[str, Any]] | None = None) -> Any:
    body = emsp.credentials() | ({"roles": roles} if roles is not None else {})
    return await client.post("/ocpi/2.2.1/credentials", json=body, headers=token(token_a))


async def registered(
    client: Client, sessions: async_sessionmaker[AsyncSession], settings: Settings, tenant: Tenancy, emsp: Emsp
) -> str:
    answered = await register(client, await invite(sessions, settings, tenant, emsp.party_id), emsp)
    assert answered.status_code == 200 and answered.json()["status_code"] == 1000, answered.text
    return str(answered.json()["data"]["token"])


async def partner_ids(client: Client, tenant: Tenancy) -> dict[str, str]:
    listed = (await client.get("/api/v1/roaming-partners", headers=tenant.admin)).json()
    return {p["name"]: p["id"] for p in listed}


async def public_station(client: Client, tenant: Tenancy) -> tuple[dict[str, Any], str, dict[str, Any]]:
    admin = tenant.admin
    site = (await client.post("/api/v1/sites", json=SITE | {"name": "Roaming plaza", "publish": True},
                              headers=admin)).json()  # fmt: skip
    station = (await client.post("/api/v1/stations", json={"site_id": site["id"], "identity": "ROAM-1"},
                                 headers=admin)).json()  # fmt: skip
    evse = (await client.post(f"/api/v1/stations/{station['id']}/evses", headers=admin,
                              json={"ocpp_evse_id": 1, "public": True, "evse_id": "NL*CPO*E1"})).json()  # fmt: skip
    await client.post(f"/api/v1/evses/{evse['id']}/connectors", headers=admin, json={
        "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 400,
        "max_amperage": 32})  # fmt: skip
    return site, station["id"], evse


async def station_says(sessions: async_sessionmaker[AsyncSession], station_id: str, uid: str) -> Authorization:
    """What the token lookup decides when the station presents ``uid`` (as Authorize does)."""
    async with sessions() as session, session.begin():
        station = await session.get(Station, uuid.UUID(station_id))
        assert station is not None
        return await authorize(session, station, uid, datetime.now(UTC), evse_number=1)


async def started(sessions: async_sessionmaker[AsyncSession], station_id: str, uid: str) -> None:
    async with sessions() as session, session.begin():
        station = await session.get(Station, uuid.UUID(station_id))
        assert station is not None
        await start_transaction_16(session, station, 1, uid, 0, datetime.now(UTC))


async def session_tokens(client: Client, ours: str) -> list[str]:
    listed = await client.get("/ocpi/2.2.1/sessions", headers=token(ours))
    assert listed.status_code == 200, listed.text
    return [s["cdr_token"]["uid"] for s in listed.json()["data"]]


def refused_with_2001(response: Any, status_code: int = 2001) -> None:
    """An OCPI error envelope (valid as the schemas' OCPIResponse), 2001, with an HTTP client error."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    body = response.json()
    schema = shared_specs("ocpi-openapi", "2.2.1", "components", "schema.yaml").resolve()
    validator = Draft202012Validator({"$ref": f"file://{schema}#/components/schemas/OCPIResponse"},
                                     registry=_registry("2.2.1"))  # fmt: skip
    assert [e.message for e in validator.iter_errors(body)] == []
    assert body["status_code"] == status_code and body["timestamp"].endswith("Z"), body


async def test_a_token_pushed_late_by_another_partner_under_its_own_party_does_not_take_over_the_driver(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings,
    vic: Emsp, xyz: Emsp,
) -> None:  # fmt: skip
    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    xyz_c = await registered(client, sessions, settings, tenant_a, xyz)
    _, station, _ = await public_station(client, tenant_a)
    pushed = await client.put("/ocpi/2.2.1/tokens/NL/VIC/DRIVER01", json=token_body("DRIVER01", "VIC"),
                              headers=token(vic_c))  # fmt: skip
    assert pushed.json()["status_code"] == 1000
    hijack = await client.put("/ocpi/2.2.1/tokens/NL/XYZ/DRIVER01", json=token_body("DRIVER01", "XYZ", LATE),
                              headers=token(xyz_c))  # fmt: skip
    assert hijack.json()["status_code"] == 1000, "its own party: a token of its own, beside VIC's"

    # two partners hold the uid: only a real-time yes from exactly one of them settles it
    vic.allow_realtime = {"DRIVER01"}
    decided = await station_says(sessions, station, "driver01")
    assert (decided.accepted, decided.partner) == (True, "NLVIC"), decided
    ids = await partner_ids(client, tenant_a)
    assert str(decided.partner_id) == ids["VIC"]
    await started(sessions, station, "DRIVER01")
    assert await session_tokens(client, vic_c) == ["DRIVER01"]
    assert await session_tokens(client, xyz_c) == [], "the session is VIC's, not the partner that pushed late"

    xyz.allow_realtime = {"DRIVER01"}
    both = await station_says(sessions, station, "DRIVER01")
    assert not both.accepted and both.partner is None, "both say yes: nobody's driver for sure"
    vic.allow_realtime = xyz.allow_realtime = set()
    neither = await station_says(sessions, station, "DRIVER01")
    assert not neither.accepted and neither.partner is None


async def test_a_start_session_with_another_partners_token_is_refused_and_the_token_stays_theirs(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings,
    vic: Emsp, xyz: Emsp,
) -> None:  # fmt: skip
    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    xyz_c = await registered(client, sessions, settings, tenant_a, xyz)
    site, _, evse = await public_station(client, tenant_a)
    driver = token_body("DRIVER02", "VIC")
    assert (await client.put("/ocpi/2.2.1/tokens/NL/VIC/DRIVER02", json=driver,
                             headers=token(vic_c))).json()["status_code"] == 1000  # fmt: skip
    start = {"response_url": f"{xyz.url}/2.2.1/commands/START_SESSION/1", "token": driver | {"last_updated": LATE},
             "location_id": site["id"], "evse_uid": evse["uid"]}  # fmt: skip
    answered = await client.post("/ocpi/2.2.1/commands/START_SESSION", json=start, headers=token(xyz_c))
    refused_with_2001(answered)
    ids = await partner_ids(client, tenant_a)
    async with sessions() as session:
        rows = (await session.execute(select(RoamingToken).where(RoamingToken.uid == "DRIVER02"))).scalars().all()
    assert [(str(r.partner_id), r.last_updated.year) for r in rows] == [(ids["VIC"], 2026)], "nothing written"


class StationCommands:
    """Stands in for the gateway: notes every command a station would be sent, and says yes."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send(self, station_id: uuid.UUID, command: Command, requested_by: str | None = None) -> CommandResult:
        self.sent.append((command.name, command.arguments))
        return CommandResult("answered", {"status": "Accepted"})


def stand_in_for_stations(app: Litestar) -> StationCommands:
    commands = StationCommands()
    app.state.commands = commands
    return commands


async def sent_by_now(commands: StationCommands, count: int) -> list[str]:
    """The names of the commands sent, once ``count`` are (the station is asked after the answer)."""
    for _ in range(100):
        if len(commands.sent) >= count:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)  # and nothing more
    return [name for name, _ in commands.sent]


def command_answer(response: Any, result: str) -> None:
    assert response.status_code == 200 and response.json()["status_code"] == 1000, response.text
    data = response.json()["data"]
    assert data["result"] == result and errors(data, "2.2.1", "commands", "CommandResponse") == [], data
    if result == "REJECTED":
        assert data["timeout"] == 0 and data["message"][0]["text"], data


async def test_a_start_or_reservation_with_the_uid_of_one_of_our_badges_in_any_spelling_is_rejected_and_nothing_sent(
    app: Litestar, client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings,
    vic: Emsp,
) -> None:  # fmt: skip
    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    site, _, evse = await public_station(client, tenant_a)
    badge = await client.post("/api/v1/badges", json={"uid": "04:A2:3B:1C"}, headers=tenant_a.admin)
    assert badge.status_code == 201, badge.text
    commands = stand_in_for_stations(app)
    # the station would take each of these for the local badge: its holder would be started and billed
    for uid in ("04a23b1c", "1C3BA204", "04A23B1C00000000"):
        driver = token_body(uid, "VIC")
        start = {"response_url": f"{vic.url}/2.2.1/commands/START_SESSION/1", "token": driver,
                 "location_id": site["id"], "evse_uid": evse["uid"]}  # fmt: skip
        command_answer(await client.post("/ocpi/2.2.1/commands/START_SESSION", json=start, headers=token(vic_c)),
                       "REJECTED")  # fmt: skip
        reserve = {"response_url": f"{vic.url}/2.2.1/commands/RESERVE_NOW/1", "token": driver,
                   "expiry_date": LATE, "reservation_id": "R1", "location_id": site["id"], "evse_uid": evse["uid"]}  # fmt: skip
        command_answer(await client.post("/ocpi/2.2.1/commands/RESERVE_NOW", json=reserve, headers=token(vic_c)),
                       "REJECTED")  # fmt: skip
    assert await sent_by_now(commands, 1) == [], "the station is asked nothing"
    async with sessions() as session:
        assert (await session.execute(select(RoamingToken))).scalars().all() == [], "no token kept"
        assert (await session.execute(select(RoamingReservation))).scalars().all() == [], "no reservation kept"

    # a uid of the partner's own driver is started as before
    start = {"response_url": f"{vic.url}/2.2.1/commands/START_SESSION/2", "token": token_body("DRIVER10", "VIC"),
             "location_id": site["id"], "evse_uid": evse["uid"]}  # fmt: skip
    command_answer(await client.post("/ocpi/2.2.1/commands/START_SESSION", json=start, headers=token(vic_c)),
                   "ACCEPTED")  # fmt: skip
    assert await sent_by_now(commands, 1) == ["remote_start"]
    assert commands.sent[0][1]["id_tag"] == "DRIVER10"


async def test_only_the_partner_whose_driver_had_the_evse_last_may_unlock_its_connector(
    app: Litestar, client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings,
    vic: Emsp, xyz: Emsp,
) -> None:  # fmt: skip
    from cpo.charging.models import ChargingSession

    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    xyz_c = await registered(client, sessions, settings, tenant_a, xyz)
    site, station, evse = await public_station(client, tenant_a)
    commands = stand_in_for_stations(app)

    async def unlock(ours: str, emsp: Emsp, result: str) -> None:
        body = {"response_url": f"{emsp.url}/2.2.1/commands/UNLOCK_CONNECTOR/1", "location_id": site["id"],
                "evse_uid": evse["uid"], "connector_id": "1"}  # fmt: skip
        command_answer(await client.post("/ocpi/2.2.1/commands/UNLOCK_CONNECTOR", json=body, headers=token(ours)),
                       result)  # fmt: skip

    await unlock(vic_c, vic, "REJECTED")  # no session there yet: nobody's cable
    assert (await client.put("/ocpi/2.2.1/tokens/NL/VIC/DRIVER11", json=token_body("DRIVER11", "VIC"),
                             headers=token(vic_c))).json()["status_code"] == 1000  # fmt: skip
    await started(sessions, station, "DRIVER11")
    await unlock(xyz_c, xyz, "REJECTED")  # VIC's driver is charging: another partner may not end it
    assert await sent_by_now(commands, 1) == []
    await unlock(vic_c, vic, "ACCEPTED")
    assert await sent_by_now(commands, 1) == ["unlock_connector"]
    async with sessions() as session, session.begin():
        charging = (await session.execute(select(ChargingSession))).scalar_one()
        charging.status, charging.stopped_at = "completed", datetime.now(UTC)
    await unlock(vic_c, vic, "ACCEPTED")  # the session ended and the cable is stuck: the common case
    await unlock(xyz_c, xyz, "REJECTED")
    assert await sent_by_now(commands, 2) == ["unlock_connector", "unlock_connector"]

    # a local driver charges there now: the last session is not VIC's any more
    assert (await client.post("/api/v1/badges", json={"uid": "04BEEF11"},
                              headers=tenant_a.admin)).status_code == 201  # fmt: skip
    await started(sessions, station, "04BEEF11")
    await unlock(vic_c, vic, "REJECTED")
    assert await sent_by_now(commands, 3) == ["unlock_connector", "unlock_connector"]


async def test_a_registered_partner_without_parties_cannot_claim_one_by_a_credentials_put(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings, vic: Emsp
) -> None:
    from sqlalchemy import delete

    from cpo.roaming.models import RoamingParty

    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    ids = await partner_ids(client, tenant_a)
    async with sessions() as session, session.begin():  # as migration 0014 may leave a partner
        await session.execute(delete(RoamingParty).where(RoamingParty.partner_id == uuid.UUID(ids["VIC"])))
    for roles in ([role("VIC")], [role("FRE")], [role("VIC"), role("FRE")]):
        refused_with_2001(await client.put("/ocpi/2.2.1/credentials", headers=token(vic_c),
                                           json=vic.credentials() | {"roles": roles}))  # fmt: skip
    async with sessions() as session:
        assert (await session.execute(select(RoamingParty))).scalars().all() == [], "no party claimed"
    assert (await client.get("/ocpi/2.2.1/credentials", headers=token(vic_c))).status_code == 200, "token C kept"

    # the administrator gives it its party: then it updates its credentials as any partner does
    added = await client.patch(f"/api/v1/roaming-partners/{ids['VIC']}", headers=tenant_a.admin,
                               json={"add_parties": [{"country_code": "NL", "party_id": "VIC"}]})  # fmt: skip
    assert added.status_code == 200, added.text
    updated = await client.put("/ocpi/2.2.1/credentials", headers=token(vic_c), json=vic.credentials())
    assert updated.json()["status_code"] == 1000, updated.text


async def test_credentials_naming_another_partners_party_are_refused_and_change_nothing(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings,
    vic: Emsp, xyz: Emsp,
) -> None:  # fmt: skip
    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    xyz_c = await registered(client, sessions, settings, tenant_a, xyz)
    assert (await client.put("/ocpi/2.2.1/tokens/NL/VIC/DRIVER03", json=token_body("DRIVER03", "VIC"),
                             headers=token(vic_c))).json()["status_code"] == 1000  # fmt: skip

    widened = await client.put("/ocpi/2.2.1/credentials", headers=token(xyz_c),
                               json=xyz.credentials() | {"roles": [role("XYZ"), role("VIC")]})  # fmt: skip
    refused_with_2001(widened)
    assert (await client.get("/ocpi/2.2.1/credentials", headers=token(xyz_c))).status_code == 200, "token C kept"
    read = await client.get("/ocpi/2.2.1/tokens/NL/VIC/DRIVER03", headers=token(xyz_c))
    refused_with_2001(read)
    blocked = await client.patch("/ocpi/2.2.1/tokens/NL/VIC/DRIVER03", headers=token(xyz_c),
                                 json={"valid": False, "last_updated": LATE})  # fmt: skip
    refused_with_2001(blocked)
    theirs = (await client.get("/ocpi/2.2.1/tokens/NL/VIC/DRIVER03", headers=token(vic_c))).json()["data"]
    assert theirs["valid"] is True

    # a newcomer naming VIC beside its own party is refused too, and stays invited
    token_a = await invite(sessions, settings, tenant_a, "Newcomer")
    with serve_emsp("NEW", call_back=False) as newcomer:
        refused_with_2001(await register(client, token_a, newcomer, [role("NEW"), role("VIC")]))
    assert (await client.get("/ocpi/versions", headers=token(token_a))).status_code == 200, "still invited"
    partners = (await client.get("/api/v1/roaming-partners", headers=tenant_a.admin)).json()
    assert {p["name"]: (p["status"], p["party_id"]) for p in partners} == {
        "VIC": ("registered", "VIC"),
        "XYZ": ("registered", "XYZ"),
        "Newcomer": ("invited", None),
    }


async def test_a_new_partner_cannot_take_the_party_of_one_that_left_and_its_sessions_stay_with_it(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings, xyz: Emsp
) -> None:
    xyz_c = await registered(client, sessions, settings, tenant_a, xyz)
    _, station, _ = await public_station(client, tenant_a)
    assert (await client.put("/ocpi/2.2.1/tokens/NL/XYZ/DRIVER04", json=token_body("DRIVER04", "XYZ"),
                             headers=token(xyz_c))).json()["status_code"] == 1000  # fmt: skip
    await started(sessions, station, "DRIVER04")
    assert await session_tokens(client, xyz_c) == ["DRIVER04"]
    assert (await client.delete("/ocpi/2.2.1/credentials", headers=token(xyz_c))).status_code == 200

    impostor = await invite(sessions, settings, tenant_a, "Impostor")
    refused_with_2001(await register(client, impostor, xyz))
    assert (await client.get("/ocpi/versions", headers=token(impostor))).status_code == 200, "nothing stored"

    # the partner that left comes back on its own record (a new Token A from the admin): its history is its own
    ids = await partner_ids(client, tenant_a)
    again = await client.post(f"/api/v1/roaming-partners/{ids['XYZ']}/invite", headers=tenant_a.admin)
    assert again.status_code == 201, again.text
    back = await register(client, again.json()["token_a"], xyz)
    assert back.json()["status_code"] == 1000, back.text
    assert await session_tokens(client, back.json()["data"]["token"]) == ["DRIVER04"]


async def test_parties_given_at_invitation_bound_what_a_partner_or_hub_registers_and_pushes_as(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings, vic: Emsp
) -> None:
    await registered(client, sessions, settings, tenant_a, vic)
    admin = tenant_a.admin
    clash = await client.post("/api/v1/roaming-partners/invite", headers=admin, json={
        "name": "Grabber", "parties": [{"country_code": "NL", "party_id": "VIC"}]})  # fmt: skip
    assert clash.status_code == 409, clash.text
    bad = await client.post("/api/v1/roaming-partners/invite", headers=admin, json={
        "name": "Odd", "parties": [{"country_code": "NLD", "party_id": "AB"}]})  # fmt: skip
    assert bad.status_code == 400, bad.text
    hub = await client.post("/api/v1/roaming-partners/invite", headers=admin, json={
        "name": "Hub", "parties": [{"country_code": "NL", "party_id": "HUB"}, {"country_code": "de", "party_id": "abc"}]})  # fmt: skip
    assert hub.status_code == 201, hub.text
    assert hub.json()["partner"]["parties"] == ["DE*ABC", "NL*HUB"]
    token_a = hub.json()["token_a"]
    with serve_emsp("HUB", call_back=False) as hub_emsp:
        refused_with_2001(await register(client, token_a, hub_emsp, [role("HUB"), role("OTH", "BE")]))
        answered = await register(client, token_a, hub_emsp, [role("HUB") | {"role": "HUB"}])
    assert answered.json()["status_code"] == 1000, answered.text
    hub_c = answered.json()["data"]["token"]
    behind = token_body("DRIVER05", "ABC") | {"country_code": "DE"}
    pushed = await client.put("/ocpi/2.2.1/tokens/DE/ABC/DRIVER05", json=behind, headers=token(hub_c))
    assert pushed.json()["status_code"] == 1000, "a party the admin gave the hub"
    refused_with_2001(await client.put("/ocpi/2.2.1/tokens/NL/VIC/DRIVER05", headers=token(hub_c),
                                       json=token_body("DRIVER05", "VIC")))  # fmt: skip


async def test_the_cli_invites_a_hub_with_its_parties_and_refuses_a_party_another_partner_holds(
    db_url: str, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from cpo.roaming.models import RoamingParty

    for name, value in (("DATABASE_URL", db_url), ("LOG_JSON", "false"), ("DATA_DIR", str(tmp_path))):
        monkeypatch.setenv(f"CPO_{name}", value)
    code = await asyncio.to_thread(main, ["ocpi", "invite", "--name", "Hub", "--party", "NL*HUB", "--party", "de/abc"])
    out = capsys.readouterr()
    assert code == 0, out.err
    partner_id = uuid.UUID(out.out.strip().rsplit("partner: ", 1)[1])
    async with sessions() as session:
        rows = (await session.execute(select(RoamingParty).where(RoamingParty.partner_id == partner_id))).scalars()
        assert sorted((r.country_code, r.party_id) for r in rows) == [("DE", "ABC"), ("NL", "HUB")]
    code = await asyncio.to_thread(main, ["ocpi", "invite", "--name", "Grabber", "--party", "NL*HUB"])
    out = capsys.readouterr()
    assert code != 0 and "NL*HUB belongs to another partner" in out.err, (code, out.err)


async def test_a_session_goes_to_its_partner_after_the_partner_lists_its_roles_in_another_order(
    app: Litestar, client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession],
) -> None:  # fmt: skip
    from cpo.charging.models import ChargingSession
    from cpo.outbox.dispatcher import Event
    from ocpi import push

    hub = (await client.post("/api/v1/roaming-partners/invite", headers=tenant_a.admin, json={
        "name": "Hub", "parties": [{"country_code": "NL", "party_id": "HUB"}, {"country_code": "DE", "party_id": "ABC"}]})).json()  # fmt: skip
    _, station, _ = await public_station(client, tenant_a)
    with serve_emsp("HUB", call_back=False) as harness:
        answered = await register(client, hub["token_a"], harness, [role("HUB"), role("ABC", "DE")])
        hub_c = answered.json()["data"]["token"]
        behind = token_body("DRIVER07", "ABC") | {"country_code": "DE"}
        assert (await client.put("/ocpi/2.2.1/tokens/DE/ABC/DRIVER07", json=behind,
                                 headers=token(hub_c))).json()["status_code"] == 1000  # fmt: skip
        await started(sessions, station, "DRIVER07")
        async with sessions() as session:
            charging = (await session.execute(select(ChargingSession))).scalar_one()
        # the same parties, listed the other way round: its first role (the name it goes by) changes
        reordered = await client.put("/ocpi/2.2.1/credentials", headers=token(hub_c),
                                     json=harness.credentials() | {"roles": [role("ABC", "DE"), role("HUB")]})  # fmt: skip
        assert reordered.json()["status_code"] == 1000, reordered.text
        push_session = push.handlers(app.state, sessions)["session.started"][0]
        await push_session(Event(1, "session.started", {"id": str(charging.id)}, tenant_a.id, 1))
        assert [p for m, p, _ in harness.received if m == "PUT" and p.endswith(str(charging.id))], (
            "the session is still the hub's: pushed to it"
        )
    assert await session_tokens(client, reordered.json()["data"]["token"]) == ["DRIVER07"]


async def test_hub_client_info_wants_a_registered_partner_and_real_party_codes(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings, vic: Emsp
) -> None:
    token_a = await invite(sessions, settings, tenant_a, "Not yet")
    info = {"party_id": "ABC", "country_code": "DE", "role": "EMSP", "status": "CONNECTED",
            "last_updated": "2026-11-20T10:00:00Z"}  # fmt: skip
    early = await client.put("/ocpi/2.2.1/hubclientinfo/DE/ABC", json=info, headers=token(token_a))
    assert early.status_code == 401 and early.json()["status_code"] == 2000
    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    long_codes = info | {"party_id": "ABCD", "country_code": "DEU"}
    refused_with_2001(await client.put("/ocpi/2.2.1/hubclientinfo/DEU/ABCD", json=long_codes, headers=token(vic_c)))
    naive = info | {"last_updated": "2026-11-20T10:00:00"}
    refused_with_2001(await client.put("/ocpi/2.2.1/hubclientinfo/DE/ABC", json=naive, headers=token(vic_c)))
    assert (await client.put("/ocpi/2.2.1/hubclientinfo/DE/ABC", json=info,
                             headers=token(vic_c))).json()["status_code"] == 1000  # fmt: skip


BAD_INPUT = {
    "start_session_uid_37": ("START_SESSION", lambda body: body | {"token": body["token"] | {"uid": "U" * 37}}),
    "start_session_country_3": ("START_SESSION", lambda body: body | {"token": body["token"] | {"country_code": "NLD"}}),
    "unlock_superscript_connector": ("UNLOCK_CONNECTOR", lambda body: body | {"connector_id": "\u00b2"}),
    "reserve_long_reservation_id": ("RESERVE_NOW", lambda body: body | {"reservation_id": "R" * 40}),
    "reserve_long_response_url": ("RESERVE_NOW", lambda body: body | {"response_url": body["response_url"] + "x" * 300}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
async def test_a_command_with_out_of_range_fields_gets_2001_in_the_envelope_not_a_500(
    case: str, client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings,
    vic: Emsp,
) -> None:  # fmt: skip
    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    site, _, evse = await public_station(client, tenant_a)
    command, spoil = BAD_INPUT[case]
    body = {"response_url": f"{vic.url}/2.2.1/commands/{command}/1", "token": token_body("DRIVER06", "VIC"),
            "location_id": site["id"], "evse_uid": evse["uid"], "connector_id": "1", "reservation_id": "R1",
            "expiry_date": "2030-01-01T12:00:00Z"}  # fmt: skip
    refused_with_2001(await client.post(f"/ocpi/2.2.1/commands/{command}", json=spoil(body), headers=token(vic_c)))


NUL_INPUT = {
    "token_uid": ("PUT", "/ocpi/2.2.1/tokens/NL/VIC/A%00B", lambda site, evse: token_body("A\x00B", "VIC")),
    "token_issuer": ("PUT", "/ocpi/2.2.1/tokens/NL/VIC/AB", lambda site, evse: token_body("AB", "VIC", issuer="a\x00")),
    "token_type": ("GET", "/ocpi/2.2.1/tokens/NL/VIC/AB?type=%00", lambda site, evse: None),
    "start_evse_uid": ("POST", "/ocpi/2.2.1/commands/START_SESSION", lambda site, evse: {
        "response_url": "https://emsp.example.com/r", "token": token_body("D1", "VIC"), "location_id": site["id"],
        "evse_uid": "E\x00"}),
    "cancel_reservation_id": ("POST", "/ocpi/2.2.1/commands/CANCEL_RESERVATION", lambda site, evse: {
        "response_url": "https://emsp.example.com/r", "reservation_id": "R\x00"}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(NUL_INPUT))
async def test_a_nul_character_the_database_cannot_store_gets_2001_in_the_envelope_not_a_500(
    case: str, client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings,
    vic: Emsp,
) -> None:  # fmt: skip
    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    site, _, evse = await public_station(client, tenant_a)
    method, path, body = NUL_INPUT[case]
    sent = body(site, evse)
    answered = await client.request(method, path, headers=token(vic_c), **({"json": sent} if sent is not None else {}))
    refused_with_2001(answered)


@pytest.mark.parametrize("module", ["locations", "tariffs", "sessions", "cdrs"])
async def test_an_offset_beyond_a_64_bit_integer_gets_2001_in_the_envelope_not_a_500(
    module: str, client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings,
    vic: Emsp,
) -> None:  # fmt: skip
    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    refused_with_2001(await client.get(f"/ocpi/2.2.1/{module}?offset={2**63}", headers=token(vic_c)))
    assert (await client.get(f"/ocpi/2.2.1/{module}?offset={2**63 - 1}", headers=token(vic_c))).status_code == 200


async def test_an_unknown_ocpi_path_or_method_is_answered_in_the_envelope_and_the_api_keeps_problem_details(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings, vic: Emsp
) -> None:
    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    for method, path, status in (("GET", "/ocpi/2.2.1/nothing", 404), ("GET", "/ocpi/nothing", 404),
                                 ("DELETE", "/ocpi/2.2.1/tokens/NL/VIC/X", 405), ("POST", "/ocpi/2.2.1/locations", 405)):  # fmt: skip
        answered = await client.request(method, path, headers=token(vic_c))
        assert answered.status_code == status, (method, path)
        refused_with_2001(answered, 2000)
    invalid = await client.get("/ocpi/2.2.1/chargingprofiles/x?duration=soon&response_url=y", headers=token(vic_c))
    refused_with_2001(invalid)
    api = await client.get("/api/v1/nothing", headers=tenant_a.admin)
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/problem+json")


async def test_the_roaming_page_invites_a_partner_with_its_parties_and_refuses_one_another_partner_holds(
    client: Client, ui_admin: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from cpo.roaming.models import RoamingPartner, RoamingParty
    from tests.integration.test_ui import sign_in

    csrf = await sign_in(client, ui_admin)
    invited = await client.post("/ui/roaming/invite", data={"csrf": csrf, "name": "Hub", "parties": "NL*HUB, de*abc"})
    assert invited.status_code == 201 and 'id="token-a"' in invited.text
    async with sessions() as session:
        hub = (await session.execute(select(RoamingPartner).where(RoamingPartner.name == "Hub"))).scalar_one()
        rows = (await session.execute(select(RoamingParty).where(RoamingParty.partner_id == hub.id))).scalars()
        assert sorted((r.country_code, r.party_id) for r in rows) == [("DE", "ABC"), ("NL", "HUB")]
    page = await client.get("/ui/roaming")
    assert "DE*ABC" in page.text and "NL*HUB" in page.text, "each partner's parties are listed"
    clash = await client.post("/ui/roaming/invite", data={"csrf": csrf, "name": "Grabber", "parties": "NL*HUB"})
    assert clash.status_code == 400 and "NL*HUB belongs to another partner" in clash.text
    odd = await client.post("/ui/roaming/invite", data={"csrf": csrf, "name": "Odd", "parties": "NLD*AB"})
    assert odd.status_code == 400
    async with sessions() as session:
        names = set((await session.execute(select(RoamingPartner.name))).scalars())
    assert names == {"Hub"}, "nothing stored for a refused invitation"


async def test_migration_0014_gives_parties_to_their_registered_holder_old_sessions_never_to_a_newcomer_and_downgrades_to_the_newest_token(
    pg_server: str,
) -> None:
    import asyncpg
    from alembic import command

    from cpo.db.engine import plain_url
    from cpo.db.migrate import alembic_config, upgrade
    from tests.conftest import database_url

    admin = await asyncpg.connect(plain_url(pg_server))
    await admin.execute("DROP DATABASE IF EXISTS migration_0014 WITH (FORCE)")
    await admin.execute("CREATE DATABASE migration_0014")
    url = database_url(pg_server, "migration_0014")
    try:
        await asyncio.to_thread(upgrade, url, "0013")
        db = await asyncpg.connect(plain_url(url))
        tenant, site, station = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        left, current, invited = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await db.execute(
            "INSERT INTO tenants (id, slug, name, auto_register_stations) VALUES ($1, 't', 'T', false)", tenant
        )
        await db.execute(
            "INSERT INTO sites (id, tenant_id, name, address, city, country, latitude, longitude, time_zone,"
            " opening_times, publish) VALUES ($1, $2, 'S', 'A', 'C', 'NLD', 0, 0, 'Europe/Amsterdam', '{}', true)",
            site, tenant,
        )  # fmt: skip
        await db.execute(
            "INSERT INTO stations (id, tenant_id, site_id, identity, security_profile, registration_status)"
            " VALUES ($1, $2, $3, 'ST-1', 1, 'Accepted')", station, tenant, site,
        )  # fmt: skip
        roles = {
            left: ("closed", '[{"role": "EMSP", "country_code": "NL", "party_id": "XYZ"}]', "2026-01-01"),
            current: ("registered", '[{"role": "EMSP", "country_code": "nl", "party_id": "xyz"},'
                      ' {"role": "EMSP", "country_code": "DE", "party_id": "ABC"}]', "2026-06-01"),
            invited: ("invited", "[]", "2026-07-01"),
        }  # fmt: skip
        for partner, (status, declared, created) in roles.items():
            await db.execute(
                "INSERT INTO roaming_partners (id, tenant_id, name, status, roles, endpoints, our_token_hash,"
                " our_token_sealed, plain_tokens, created_at) VALUES ($1, $2, $3, $4, $5::jsonb, '{}', $6, 'x', false,"
                " $7::text::timestamptz)", partner, tenant, status, status, declared, uuid.uuid4().hex, created,
            )  # fmt: skip
        # NL*XYZ was declared by both (the one that closed, then the newcomer): a session goes to the one that
        # alone existed when it started, else to nobody; DE*ABC only ever by the newcomer
        for code, transaction, at in (("NLXYZ", "1", "2026-11-01"), ("DEABC", "2", "2026-11-01"),
                                      (None, "3", "2026-11-01"), ("NLXYZ", "4", "2026-03-01"),
                                      ("NLXYZ", "5", "2025-12-01")):  # fmt: skip
            await db.execute(
                "INSERT INTO charging_sessions (id, tenant_id, station_id, ocpp_version, transaction_id, status,"
                " started_at, energy_wh, offline, partner) VALUES ($1, $2, $3, '1.6', $4, 'completed',"
                " $6::text::timestamptz, 0, false, $5)", uuid.uuid4(), tenant, station, transaction, code, at,
            )  # fmt: skip
        await db.close()

        await asyncio.to_thread(upgrade, url, "0014")
        db = await asyncpg.connect(plain_url(url))
        parties = await db.fetch("SELECT country_code, party_id, partner_id FROM roaming_parties ORDER BY 1, 2")
        owners = await db.fetch("SELECT transaction_id, partner_id FROM charging_sessions ORDER BY 1")
        # tokens per partner: the same party and uid from two partners (possible from now on) ...
        for partner, updated in ((left, "2026-01-02"), (current, "2026-06-02")):
            await db.execute(
                "INSERT INTO roaming_tokens (tenant_id, partner_id, country_code, party_id, uid, type, contract_id,"
                " valid, whitelist, body, last_updated) VALUES ($1, $2, 'NL', 'XYZ', 'U1', 'RFID', 'C', true,"
                " 'ALLOWED', '{}', $3::text::timestamptz)", tenant, partner, updated,
            )  # fmt: skip
        await db.close()
        assert [tuple(row) for row in parties] == [("DE", "ABC", current), ("NL", "XYZ", current)]
        assert [tuple(row) for row in owners] == [("1", None), ("2", current), ("3", None), ("4", left), ("5", None)]

        # ... and back to one token per party and uid on a downgrade: the newest stays
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0013")
        db = await asyncpg.connect(plain_url(url))
        kept = await db.fetch("SELECT partner_id FROM roaming_tokens")
        await db.close()
        assert [row["partner_id"] for row in kept] == [current]
    finally:
        await admin.execute("DROP DATABASE IF EXISTS migration_0014 WITH (FORCE)")
        await admin.close()


async def test_an_admin_adds_a_party_to_a_hub_later_but_never_one_another_partner_holds(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings,
    vic: Emsp, xyz: Emsp,
) -> None:  # fmt: skip
    vic_c = await registered(client, sessions, settings, tenant_a, vic)
    await registered(client, sessions, settings, tenant_a, xyz)
    ids = await partner_ids(client, tenant_a)
    behind = token_body("DRIVER08", "ABC") | {"country_code": "DE"}
    refused_with_2001(await client.put("/ocpi/2.2.1/tokens/DE/ABC/DRIVER08", json=behind, headers=token(vic_c)))
    added = await client.patch(f"/api/v1/roaming-partners/{ids['VIC']}", headers=tenant_a.admin,
                               json={"add_parties": [{"country_code": "DE", "party_id": "ABC"}]})  # fmt: skip
    assert added.status_code == 200 and added.json()["parties"] == ["DE*ABC", "NL*VIC"], added.text
    pushed = await client.put("/ocpi/2.2.1/tokens/DE/ABC/DRIVER08", json=behind, headers=token(vic_c))
    assert pushed.json()["status_code"] == 1000
    grab = await client.patch(f"/api/v1/roaming-partners/{ids['VIC']}", headers=tenant_a.admin,
                              json={"add_parties": [{"country_code": "NL", "party_id": "XYZ"}]})  # fmt: skip
    assert grab.status_code == 409, grab.text
    switched = await client.patch(f"/api/v1/roaming-partners/{ids['VIC']}", headers=tenant_a.admin,
                                  json={"plain_tokens": True})  # fmt: skip
    assert switched.json()["plain_tokens"] is True and switched.json()["parties"] == ["DE*ABC", "NL*VIC"]
