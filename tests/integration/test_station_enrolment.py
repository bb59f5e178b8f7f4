"""Stations get in only with what proves them: their password, or their tenant's enrolment secret to register."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from ocpp.v16 import call
from sqlalchemy import update

from cpo.db.engine import make_engine, make_sessionmaker
from cpo.sites.models import Station
from cpo.tenants.models import Tenant
from tests.conftest import SITE
from tests.integration.ocpp_support import Server, basic, connect, start_server
from tests.platform import run_cpo

PENDING_MAX = 2
UNKNOWN_PER_ADDRESS = 5
_addresses = itertools.count(1)


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The tests are the proxy (127.0.0.1): each gives its stations an address of their own in X-Forwarded-For,
    # so the limit of unknown identities per address is one test's business.
    running = start_server(
        tmp_path_factory.mktemp("enrolment"), module_db_url, CPO_TRUSTED_PROXIES="127.0.0.1",
        CPO_OCPP_PENDING_STATIONS_MAX=str(PENDING_MAX), CPO_OCPP_UNKNOWN_IDENTITIES_PER_ADDRESS=str(UNKNOWN_PER_ADDRESS),
    )  # fmt: skip
    yield running
    assert running.platform.stop() == 0


def new_address() -> str:
    return f"198.51.100.{next(_addresses)}"


async def handshake(server: Server, identity: str, password: str, address: str) -> int:
    """The HTTP status of a station's websocket handshake (101: in)."""
    headers = {"Authorization": basic(identity, password), "X-Forwarded-For": address}
    try:
        async with websockets.connect(server.ws_url + identity, subprotocols=["ocpp1.6"], additional_headers=headers):  # type: ignore[list-item]
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def registered(server: Server, identity: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    async with server.api() as api:
        stations = (await api.get("/api/v1/stations", headers=headers or {})).json()
    return [s for s in stations if s["identity"] == identity]


async def enrolment_secret(server: Server, headers: dict[str, str] | None = None) -> str:
    async with server.api() as api:
        made = await api.post("/api/v1/tenants/current/enrolment-secret", headers=headers or {})
    assert made.status_code == 201, made.text
    assert made.json()["auto_register_stations"] is True
    return str(made.json()["enrolment_secret"])


@pytest.fixture(scope="module")
def bravo(server: Server) -> dict[str, str]:
    """A second tenant, granted the identity prefix BRAVO- by a platform administrator; its admin's headers."""
    platform = run_cpo(["tokens", "create", "--role", "platform_admin"], server.platform.env)
    assert platform.returncode == 0, platform.stderr
    as_platform = {"Authorization": f"Bearer {platform.stdout.strip()}"}
    with httpx.Client(base_url=server.url, timeout=30) as api:
        tenant = api.post("/api/v1/tenants", json={"slug": "bravo", "name": "Bravo"}, headers=as_platform)
        assert tenant.status_code == 201, tenant.text
        url = f"/api/v1/tenants/{tenant.json()['id']}/station-identity-prefix"
        refused = api.put(url, json={"prefix": "BRAVO-"}, headers={"Authorization": f"Bearer {server.token}"})
        assert refused.status_code == 403, "only a platform administrator grants prefixes"
        granted = api.put(url, json={"prefix": "BRAVO-"}, headers=as_platform)
        assert granted.status_code == 200 and granted.json()["station_identity_prefix"] == "BRAVO-", granted.text
        nested = api.put(f"/api/v1/tenants/{tenant.json()['id']}/station-identity-prefix", json={"prefix": "BRAVO"},
                         headers=as_platform)  # fmt: skip
        assert nested.status_code == 200  # its own prefix may change
        assert api.put(url, json={"prefix": "BRAVO-"}, headers=as_platform).status_code == 200
    admin = run_cpo(["tokens", "create", "--role", "tenant_admin", "--tenant", "bravo"], server.platform.env)
    assert admin.returncode == 0, admin.stderr
    return {"Authorization": f"Bearer {admin.stdout.strip()}"}


async def refused_status(server: Server, station: dict[str, str], password: str | None = None) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(server, station, password=password) as cp:
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
    return refused.value.response.status_code


async def test_a_station_without_a_stored_password_is_refused_not_let_in(server: Server, module_db_url: str) -> None:
    station = await server.new_station("NOPASS")
    engine = make_engine(module_db_url, pool_size=1)
    async with make_sessionmaker(engine)() as s, s.begin():
        await s.execute(update(Station).where(Station.identity == station["identity"]).values(password_hash=None))
    await engine.dispose()
    assert await refused_status(server, station, password="any-password-at-all") == 401
    assert await refused_status(server, station) == 401


async def test_auto_registration_cannot_be_switched_on_without_an_enrolment_secret(server: Server) -> None:
    async with server.api() as api:
        refused = await api.patch("/api/v1/tenants/current", json={"auto_register_stations": True})
        assert refused.status_code == 400 and "enrolment secret" in refused.text
        assert (await api.get("/api/v1/tenants/current")).json()["auto_register_stations"] is False


async def test_a_station_with_its_tenants_enrolment_secret_registers_as_pending(server: Server) -> None:
    secret = await enrolment_secret(server)
    address = new_address()
    assert await handshake(server, "NEWCOMER-1", secret, address) == 101
    [station] = await registered(server, "NEWCOMER-1")
    assert station["registration_status"] == "Pending"
    # the secret is its password now; anything else is refused
    assert await handshake(server, "NEWCOMER-1", "another-password-entirely", address) == 401
    assert await handshake(server, "NEWCOMER-1", secret, address) == 101


async def test_an_anonymous_station_without_the_secret_creates_nothing(server: Server, module_db_url: str) -> None:
    # switched on the old way (a tenant that had it on before enrolment secrets): still no way in without one
    engine = make_engine(module_db_url, pool_size=1)
    async with make_sessionmaker(engine)() as s, s.begin():
        await s.execute(update(Tenant).where(Tenant.slug == "default").values(auto_register_stations=True))
    await engine.dispose()
    assert await handshake(server, "STRANGER-1", "a-password-of-my-own-choosing", new_address()) == 404
    await enrolment_secret(server)
    assert await handshake(server, "STRANGER-2", "a-password-of-my-own-choosing", new_address()) == 404
    assert await registered(server, "STRANGER-1") == [] and await registered(server, "STRANGER-2") == []


async def test_a_tenant_cannot_squat_an_identity_under_another_tenants_prefix(
    server: Server, bravo: dict[str, str]
) -> None:
    ours = await enrolment_secret(server)
    assert await handshake(server, "BRAVO-77", ours, new_address()) == 404
    assert await registered(server, "BRAVO-77") == [] and await registered(server, "BRAVO-77", bravo) == []
    async with server.api() as api:  # nor through the API: the identity is not ours to take
        site = (await api.post("/api/v1/sites", json=SITE)).json()
        taken = await api.post("/api/v1/stations", json={"site_id": site["id"], "identity": "BRAVO-78"})
    assert taken.status_code == 400 and "reserved for another operator" in taken.text
    theirs = await enrolment_secret(server, bravo)
    # and the prefix holder's stations stay inside it
    assert await handshake(server, "ELSEWHERE-1", theirs, new_address()) == 404
    assert await handshake(server, "BRAVO-77", theirs, new_address()) == 101
    assert [s["registration_status"] for s in await registered(server, "BRAVO-77", bravo)] == ["Pending"]


async def test_no_more_pending_stations_than_the_cap(server: Server, bravo: dict[str, str]) -> None:
    secret = await enrolment_secret(server, bravo)
    async with server.api() as api:
        stations = (await api.get("/api/v1/stations", headers=bravo)).json()
    pending = sum(1 for s in stations if s["registration_status"] == "Pending")
    for n in range(PENDING_MAX - pending):
        assert await handshake(server, f"BRAVO-CAP-{n}", secret, new_address()) == 101
    assert await handshake(server, "BRAVO-CAP-OVER", secret, new_address()) == 404
    assert await registered(server, "BRAVO-CAP-OVER", bravo) == []


async def test_unknown_identities_are_limited_per_address(server: Server) -> None:
    address = new_address()
    for n in range(UNKNOWN_PER_ADDRESS):
        assert await handshake(server, f"PROBE-{n}", "not-a-secret-at-all", address) == 404
    assert await handshake(server, "PROBE-LAST", "not-a-secret-at-all", address) == 429
    assert await handshake(server, "PROBE-LAST", "not-a-secret-at-all", new_address()) == 404
    # known stations are not held up by it
    station = await server.new_station("KNOWN")
    assert await handshake(server, station["identity"], station["password"], address) == 101
