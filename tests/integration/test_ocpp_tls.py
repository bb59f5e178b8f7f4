"""Security profiles 2 and 3 served natively: TLS on the main port, client certificates on their own port."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import websockets
from cryptography.hazmat.primitives import serialization
from ocpp.v16 import ChargePoint, call

from tests.integration.ocpp_support import Server, basic, start_server
from tests.platform import free_port

ORGANISATION = "CPO Test Operator"


def pkcs8(blob: trustme.Blob) -> bytes:
    key = serialization.load_pem_private_key(blob.bytes(), password=None)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("pki")
    server_ca, station_ca, rogue_ca = trustme.CA(), trustme.CA(organization_name=ORGANISATION), trustme.CA()
    server = server_ca.issue_cert("localhost", "127.0.0.1")
    server.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    (folder / "server.key").write_bytes(pkcs8(server.private_key_pem))
    server_ca.cert_pem.write_to_path(str(folder / "server-ca.pem"))
    station_ca.cert_pem.write_to_path(str(folder / "station-ca.pem"))
    return {"folder": folder, "server_ca": server_ca, "station_ca": station_ca, "rogue_ca": rogue_ca}


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Any]) -> Iterator[Server]:
    folder: Path = pki["folder"]
    client_port = free_port()
    running = start_server(
        tmp_path_factory.mktemp("tls"), module_db_url, verify=ssl.create_default_context(cafile=str(folder / "server-ca.pem")),
        CPO_TLS_CERT=str(folder / "server.pem"), CPO_TLS_KEY=str(folder / "server.key"),
        CPO_TLS_CLIENT_CA=str(folder / "station-ca.pem"), CPO_TLS_CLIENT_PORT=str(client_port),
        CPO_TLS_CLIENT_ORGANIZATION=ORGANISATION,
    )  # fmt: skip
    running.client_port = client_port  # type: ignore[attr-defined]
    yield running
    assert running.platform.stop() == 0


def client_context(pki: dict[str, Any], certificate: Any = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    pki["server_ca"].configure_trust(context)
    if certificate is not None:
        certificate.configure_cert(context)
    return context


async def boot(url: str, identity: str, context: ssl.SSLContext, headers: dict[str, str] | None = None) -> str:
    async with websockets.connect(
        url + identity, subprotocols=["ocpp1.6"], ssl=context, additional_headers=headers or {}
    ) as ws:  # type: ignore[list-item]
        cp = ChargePoint(identity, ws)
        reader = asyncio.create_task(cp.start())
        try:
            return str((await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))).status)
        finally:
            reader.cancel()


async def test_profile_2_over_tls_on_the_main_port(server: Server, pki: dict[str, Any]) -> None:
    station = await server.new_station("TLS", security_profile=2)
    assert server.ws_url.startswith("wss://")
    headers = {"Authorization": basic(station["identity"], station["password"])}
    assert await boot(server.ws_url, station["identity"], client_context(pki), headers) == "Accepted"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await boot(
            server.ws_url,
            station["identity"],
            client_context(pki),
            {"Authorization": basic(station["identity"], "w" * 20)},
        )
    assert refused.value.response.status_code == 401


async def test_profile_3_with_a_client_certificate_naming_the_station(server: Server, pki: dict[str, Any]) -> None:
    station = await server.new_station("MTLS", security_profile=3, serial_number="SN-0042")
    url = f"wss://127.0.0.1:{server.client_port}/ocpp/"  # type: ignore[attr-defined]
    good = pki["station_ca"].issue_cert(
        "sn-0042.stations.example", common_name="SN-0042", organization_name=ORGANISATION
    )
    assert await boot(url, station["identity"], client_context(pki, good)) == "Accepted"

    other_station = pki["station_ca"].issue_cert("other.example", common_name="SN-9999", organization_name=ORGANISATION)
    with pytest.raises(websockets.InvalidStatus) as wrong_cn:
        await boot(url, station["identity"], client_context(pki, other_station))
    assert wrong_cn.value.response.status_code == 401
    other_org = pki["station_ca"].issue_cert("x.example", common_name="SN-0042", organization_name="Someone Else")
    with pytest.raises(websockets.InvalidStatus) as wrong_org:
        await boot(url, station["identity"], client_context(pki, other_org))
    assert wrong_org.value.response.status_code == 401
    rogue = pki["rogue_ca"].issue_cert("x.example", common_name="SN-0042", organization_name=ORGANISATION)
    with pytest.raises((ssl.SSLError, OSError, websockets.InvalidHandshake)):
        await boot(url, station["identity"], client_context(pki, rogue))
    with pytest.raises((ssl.SSLError, OSError, websockets.InvalidHandshake)):
        await boot(url, station["identity"], client_context(pki))  # no certificate at all
    # a profile-3 station may not fall back to a password on the main port (A00.FR.005: no downgrade)
    with pytest.raises(websockets.InvalidStatus) as downgrade:
        await boot(
            server.ws_url,
            station["identity"],
            client_context(pki),
            {"Authorization": basic(station["identity"], station["password"])},
        )
    assert downgrade.value.response.status_code == 401
