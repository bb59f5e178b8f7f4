"""Requests the server makes to URLs others give it (ocpi.outbound), with private URLs NOT allowed (the default).

No test here sends traffic beyond loopback: where a refusal is checked, the network underneath is a stand-in
that records what it was asked to connect to, or a loopback listener that counts the connections it got.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpcore
import httpx
import pytest
import trustme
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.outbox.dispatcher import Event
from cpo.roaming import service as roaming
from cpo.roaming.sealing import sealer_for
from cpo.settings import OcpiSettings, Settings
from ocpi import client as ocpi_client
from ocpi import push as ocpi_push
from ocpi.envelope import INVALID_PARAMETERS, UNABLE_TO_USE_CLIENT_API, OcpiError
from ocpi.outbound import (
    MAX_RESPONSE_BYTES,
    UNREACHABLE,
    PartnerHttp,
    PublicOnlyBackend,
    PublicOnlyTransport,
    RefusedAddress,
    UrlPolicy,
)
from tests.conftest import SITE, Tenancy
from tests.conftest import test_settings as made_for_tests
from tests.emsp_harness import serve_emsp

Client = AsyncTestClient[Litestar]
PUBLIC = "93.184.215.14"
"""A public address the stand-in network is 'asked' for: nothing is ever sent to it."""


class NoNetwork(httpcore.AsyncNetworkBackend):
    """Stands in for the network: notes each connection asked for and makes none."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,  # noqa: ASYNC109
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:  # fmt: skip
        self.asked.append((host, port))
        raise httpcore.ConnectError("no network in this test")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def resolving(table: dict[str, list[str]]) -> Callable[[str, int], Any]:
    async def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


def stand_in(network: NoNetwork, table: dict[str, list[str]] | None = None) -> PartnerHttp:
    """The production client (policy, transport, backend) over the stand-in network."""
    resolver = resolving(table) if table is not None else None
    backend = PublicOnlyBackend(False, resolver, network) if resolver else PublicOnlyBackend(False, inner=network)
    return PartnerHttp(UrlPolicy(), lambda: PublicOnlyTransport(backend))


class Listener:
    """A loopback TCP port that counts the connections it gets (and answers none)."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return replace(made_for_tests(db_url, tmp_path), ocpi=OcpiSettings())  # private URLs refused, as by default


def token(value: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(value.encode()).decode()}


def credentials(url: str) -> dict[str, Any]:
    return {"token": "their-token", "url": url,
            "roles": [{"role": "EMSP", "party_id": "TNM", "country_code": "NL", "business_details": {"name": "X"}}]}  # fmt: skip


async def test_plain_http_is_refused_before_anything_is_resolved_or_connected() -> None:
    network = NoNetwork()
    async with stand_in(network, {}).client() as http:
        with pytest.raises(httpx.ConnectError, match="must be an https:// URL"):
            await http.get("http://partner.example.com/ocpi/versions")
    assert network.asked == []


@pytest.mark.parametrize("url", ["https://127.0.0.1/versions", "https://10.1.2.3/versions", "https://[::1]/versions",
                                 "https://169.254.169.254/latest/meta-data/", "https://localhost:8443/versions"])  # fmt: skip
async def test_loopback_and_private_hosts_in_a_url_are_refused_without_connecting(url: str) -> None:
    network = NoNetwork()
    async with stand_in(network).client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)
    assert network.asked == []


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "::1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                                     "::ffff:127.0.0.1", "fd00::1"])  # fmt: skip
async def test_the_connection_layer_refuses_every_non_public_address_itself(address: str) -> None:
    network = NoNetwork()
    with pytest.raises(RefusedAddress):
        await PublicOnlyBackend(inner=network).connect_tcp(address, 443)
    assert network.asked == []


async def test_a_name_that_resolves_to_loopback_is_refused_at_connect_time() -> None:
    network = NoNetwork()
    with pytest.raises(RefusedAddress, match=r"resolves to non-public 127\.0\.0\.1"):
        await PublicOnlyBackend(inner=network).connect_tcp("localhost", 443)  # the system's own resolver
    assert network.asked == []


async def test_a_name_that_passed_when_stored_but_resolves_inside_when_called_is_refused() -> None:
    """Checked when taken (a name, fine) and again when connecting: by then it resolves to a private address
    (DNS rebinding), or to a public and a private one."""
    network = NoNetwork()
    http = stand_in(network, {"partner.example.com": ["10.0.0.7"], "mixed.example.com": [PUBLIC, "127.0.0.1"]})
    assert http.check("https://partner.example.com/ocpi/versions")
    async with http.client() as client:
        for url in ("https://partner.example.com/ocpi/versions", "https://mixed.example.com/ocpi/versions"):
            with pytest.raises(httpx.ConnectError, match="non-public"):
                await client.get(url)
    assert network.asked == []


async def test_the_connection_goes_to_the_address_that_was_checked_not_to_the_name() -> None:
    network = NoNetwork()
    async with stand_in(network, {"partner.example.com": [PUBLIC]}).client() as http:
        with pytest.raises(httpx.ConnectError, match="no network in this test"):
            await http.get("https://partner.example.com:8443/ocpi/versions")
    assert network.asked == [(PUBLIC, 8443)], "resolved once, checked, and that very address connected to"


async def test_a_redirect_from_a_partner_is_not_followed_and_the_caller_learns_one_generic_text() -> None:
    seen: list[str] = []

    def partner(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/ocpi/moved":  # would answer, were the redirect followed
            return httpx.Response(200, json={"status_code": 1000, "timestamp": "2026-12-02T00:00:00Z", "data": [
                {"version": "2.2.1", "url": "https://partner.example.com/ocpi/2.2.1"}]})  # fmt: skip
        return httpx.Response(302, headers={"Location": "https://partner.example.com/ocpi/moved"})

    http = PartnerHttp(UrlPolicy(), lambda: httpx.MockTransport(partner))
    with pytest.raises(OcpiError) as failed:
        await ocpi_client.discover(http, "https://partner.example.com/ocpi/versions", "token-a")
    assert seen == ["https://partner.example.com/ocpi/versions"], "the redirect was not followed"
    assert (failed.value.status_code, failed.value.message) == (UNABLE_TO_USE_CLIENT_API, UNREACHABLE)


async def test_an_answer_without_end_is_cut_off_and_the_caller_learns_one_generic_text() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"status_code": 1000, "data": ["'
        while sent < 64 * MAX_RESPONSE_BYTES:  # a bound for the test only: the partner means it to go on for ever
            sent += 65536
            yield b"x" * 65536

    http = PartnerHttp(UrlPolicy(), lambda: httpx.MockTransport(lambda request: httpx.Response(200, content=endless())))
    with pytest.raises(OcpiError) as failed:
        await ocpi_client.discover(http, "https://partner.example.com/ocpi/versions", "token-a")
    assert (failed.value.status_code, failed.value.message) == (UNABLE_TO_USE_CLIENT_API, UNREACHABLE)
    assert sent <= MAX_RESPONSE_BYTES + 65536, f"read {sent} bytes of an answer without end"


async def test_endpoints_a_partner_lists_on_private_addresses_are_refused_when_taken() -> None:
    def partner(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ocpi/versions":
            data: Any = [{"version": "2.2.1", "url": "https://partner.example.com/ocpi/2.2.1"}]
        else:
            data = {"version": "2.2.1", "endpoints": [
                {"identifier": "credentials", "role": "RECEIVER", "url": "https://partner.example.com/ocpi/creds"},
                {"identifier": "locations", "role": "RECEIVER", "url": "http://10.0.0.5/internal"}]}  # fmt: skip
        return httpx.Response(200, json={"status_code": 1000, "data": data, "timestamp": "2026-12-02T00:00:00Z"})

    http = PartnerHttp(UrlPolicy(), lambda: httpx.MockTransport(partner))
    with pytest.raises(OcpiError) as refused:
        await ocpi_client.discover(http, "https://partner.example.com/ocpi/versions", "token-a")
    assert refused.value.status_code == INVALID_PARAMETERS and "locations" in refused.value.message


async def test_tls_verifies_the_url_host_name_while_the_connection_goes_to_the_resolved_address(
    tmp_path: Path,
) -> None:
    """Loopback stands in for the partner's public address (private addresses allowed for this one)."""
    authority = trustme.CA()
    served = authority.issue_cert("partner.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.configure_cert(context)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    table = {"partner.test": ["127.0.0.1"], "impostor.test": ["127.0.0.1"]}

    def transport() -> httpx.AsyncBaseTransport:
        return PublicOnlyTransport(PublicOnlyBackend(True, resolving(table)), verify=trusting)

    try:
        async with PartnerHttp(UrlPolicy(allow_private=True), transport).client() as http:
            assert (await http.get(f"https://partner.test:{port}/ocpi/versions")).text == "ok"
            with pytest.raises(httpx.ConnectError, match="certificate"):
                await http.get(f"https://impostor.test:{port}/ocpi/versions")  # same address, wrong name
    finally:
        server.close()
        await server.wait_closed()


async def test_a_token_a_holder_cannot_have_us_call_plain_http_or_loopback(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as session, session.begin():
        _, token_a = await roaming.invite(session, tenant_a.id, "Someone", sealer_for(settings))
    async with Listener() as listener:
        for url in (f"http://127.0.0.1:{listener.port}/versions", f"https://127.0.0.1:{listener.port}/versions",
                    f"https://localhost:{listener.port}/versions"):  # fmt: skip
            refused = await client.post("/ocpi/2.2.1/credentials", json=credentials(url), headers=token(token_a))
            body = refused.json()
            assert (refused.status_code, body["status_code"]) == (400, 2001), body
            assert body["status_message"] in ("url: must be an https:// URL", "url: must point at a public server")
    assert listener.connections == 0


async def test_an_admin_registering_with_a_name_that_resolves_to_loopback_reaches_nothing_and_learns_nothing(
    app: Litestar, client: Client, tenant_a: Tenancy
) -> None:
    async with Listener() as listener:
        url = f"https://partner.example.com:{listener.port}/ocpi/versions"
        stored_check = await client.post("/api/v1/roaming-partners", headers=tenant_a.admin, json={
            "name": "Inside", "versions_url": f"https://10.0.0.1:{listener.port}/ocpi/versions", "token": "t"})  # fmt: skip
        assert stored_check.status_code == 400
        assert stored_check.json()["detail"] == "versions_url: must point at a public server"
        # the name is fine when given; at connect time it resolves to loopback, where something listens
        app.state.partner_http = PartnerHttp(UrlPolicy(), resolver=resolving({"partner.example.com": ["127.0.0.1"]}))
        refused = await client.post("/api/v1/roaming-partners", headers=tenant_a.admin, json={
            "name": "Inside", "versions_url": url, "token": "t"})  # fmt: skip
        assert refused.status_code == 400
        assert refused.json()["detail"] == f"versions_url: {UNREACHABLE}", "one text, not what answered where"
    assert listener.connections == 0


async def test_a_response_url_on_a_private_address_is_refused_when_the_command_arrives(
    app: Litestar, client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    closed = app.state.partner_http
    app.state.partner_http = PartnerHttp(UrlPolicy(allow_private=True))  # the harness partner lives on loopback
    with serve_emsp(call_back=False) as emsp:
        async with sessions() as session, session.begin():
            _, token_a = await roaming.invite(session, tenant_a.id, "Harness", sealer_for(settings))
        registered = await client.post("/ocpi/2.2.1/credentials", json=emsp.credentials(), headers=token(token_a))
        assert registered.status_code == 200, registered.text
    token_c = registered.json()["data"]["token"]
    app.state.partner_http = closed
    driver = {"country_code": "NL", "party_id": "TNM", "uid": "AB12CD34", "type": "RFID", "contract_id": "NL-TNM-C1",
              "issuer": "Harness", "valid": True, "whitelist": "ALLOWED", "last_updated": "2026-12-01T00:00:00Z"}  # fmt: skip
    async with Listener() as listener:
        for response_url in (f"http://127.0.0.1:{listener.port}/result", f"https://[::1]:{listener.port}/result"):
            start = {"response_url": response_url, "token": driver, "location_id": "nowhere"}
            refused = await client.post("/ocpi/2.2.1/commands/START_SESSION", json=start, headers=token(token_c))
            body = refused.json()
            assert (refused.status_code, body["status_code"]) == (400, 2001), body
            assert body["status_message"] in (
                "response_url: must be an https:// URL",
                "response_url: must point at a public server",
            )
    assert listener.connections == 0


async def test_a_push_to_an_endpoint_stored_on_a_private_address_reaches_nothing_and_says_one_text(
    app: Litestar, client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """A partner registered before the check (or in a closed network) whose endpoint points inside: the push is
    refused when connecting, and what the tenant's admins see with the event names neither address nor cause."""
    closed = app.state.partner_http
    app.state.partner_http = PartnerHttp(UrlPolicy(allow_private=True))
    with serve_emsp(call_back=False) as emsp:
        async with sessions() as session, session.begin():
            _, token_a = await roaming.invite(session, tenant_a.id, "Harness", sealer_for(settings))
        registered = await client.post("/ocpi/2.2.1/credentials", json=emsp.credentials(), headers=token(token_a))
        assert registered.status_code == 200, registered.text
    app.state.partner_http = closed
    site = (await client.post("/api/v1/sites", json=SITE | {"publish": True}, headers=tenant_a.admin)).json()
    async with Listener() as listener:
        async with sessions() as session, session.begin():
            (partner,) = [p for p in await roaming.list_partners(session, tenant_a.id) if p.status == "registered"]
            partner.endpoints = {**partner.endpoints, "locations:RECEIVER": f"http://127.0.0.1:{listener.port}/loc"}
        push = ocpi_push.handlers(app.state, sessions)["site.updated"][0]
        with pytest.raises(ocpi_push.PushFailed) as failed:
            await push(Event(1, "site.updated", {"id": site["id"]}, tenant_a.id, 1))
    assert str(failed.value) == f"partner {partner.id}: {UNREACHABLE}"
    assert listener.connections == 0
