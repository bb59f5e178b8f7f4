"""Interoperability with an independent eMSP: the ``extrawest-ocpi`` package, run as its own server in its
own virtualenv (``.venv-emsp``, built by ``make test``). We are the initiating side of the credentials
handshake; it then receives our pushed locations and tariffs.

Known deviations of that package, tolerated here and nowhere else: it lower-cases ids (``CiString``), answers
a PUT with a list in ``data``, and refuses a bad token with a bare 403.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ocpi.outbound import UNREACHABLE
from tests.integration.ocpp_support import Server, start_server
from tests.integration.test_access_ocpp import eventually
from tests.platform import free_port, peer_process

PEER_PYTHON = Path(__file__).resolve().parents[2] / ".venv-emsp" / "bin" / "python"
PEER_SCRIPT = Path(__file__).resolve().parents[1] / "peers" / "extrawest_emsp.py"


class Peer:
    def __init__(self, url: str, token_a: str) -> None:
        self.url, self.token_a = url, token_a

    def state(self) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/_received", timeout=10)
        answer.raise_for_status()
        return dict(answer.json())


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    if not PEER_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must run the interoperability test: `make test` builds .venv-emsp")
        pytest.skip("no .venv-emsp: `make test` builds it")
    port, token_a = free_port(), secrets.token_urlsafe(16)
    log = tmp_path_factory.mktemp("extrawest") / "peer.log"
    running = Peer(f"http://127.0.0.1:{port}", token_a)
    with peer_process([str(PEER_PYTHON), str(PEER_SCRIPT), str(port), token_a], log, running.state, "the eMSP"):
        yield running


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("interop"), module_db_url, CPO_OUTBOX_POLL_SECONDS="0.5")
    yield running
    assert running.platform.stop() == 0


SITE = {"name": "Interop plaza", "address": "Coolsingel 40", "city": "Rotterdam", "country": "NLD",
        "latitude": 51.9225, "longitude": 4.4792, "time_zone": "Europe/Amsterdam", "publish": True}  # fmt: skip


async def test_we_register_with_an_independent_emsp_and_it_receives_our_locations_and_tariffs(
    server: Server, peer: Peer
) -> None:
    async with server.api() as api:
        wrong = await api.post("/api/v1/roaming-partners", json={
            "name": "Extrawest", "versions_url": f"{peer.url}/ocpi/versions", "token": "not-their-token"})  # fmt: skip
        # what their server answered (401) stays in our log: an admin learns one text, not what answered where
        assert wrong.status_code == 400 and wrong.json()["detail"] == f"versions_url: {UNREACHABLE}", wrong.text
        registered = await api.post("/api/v1/roaming-partners", json={
            "name": "Extrawest", "versions_url": f"{peer.url}/ocpi/versions", "token": peer.token_a})  # fmt: skip
        assert registered.status_code == 201, registered.text
        partner = registered.json()
        assert partner["status"] == "registered" and partner["party_id"] == "XWE" and partner["country_code"] == "NL"
        assert peer.state()["registered"] and peer.state()["tokens_c"] == 1

        tariff = (await api.post("/api/v1/tariffs", json={
            "code": "XW-AC", "name": "Public AC", "currency": "EUR", "valid_from": "2026-01-01T00:00:00Z",
            "body": {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.42", "vat": "21",
                                                         "step_size": 1}]}]}})).json()  # fmt: skip
        assigned = await api.post("/api/v1/tariff-assignments", json={"tariff_id": tariff["id"], "audience": "public"})
        assert assigned.status_code == 201, assigned.text
        site = (await api.post("/api/v1/sites", json=SITE)).json()
        station = (await api.post("/api/v1/stations", json={"site_id": site["id"], "identity": "XW-1"})).json()
        evse = (await api.post(f"/api/v1/stations/{station['id']}/evses", json={
            "ocpp_evse_id": 1, "public": True, "evse_id": "NL*CPO*EXW01"})).json()  # fmt: skip
        connector = await api.post(f"/api/v1/evses/{evse['id']}/connectors", json={
            "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 400,
            "max_amperage": 32})  # fmt: skip
        assert connector.status_code == 201, connector.text

    def received(module: str) -> dict[str, Any]:
        return {key.lower(): value for key, value in peer.state()["objects"].get(module, {}).items()}

    async def arrived() -> bool:
        location = received("locations").get(site["id"].lower())
        return "xw-ac" in received("tariffs") and bool(location and location.get("evses"))

    await eventually(arrived, 30)
    location = received("locations")[site["id"].lower()]
    assert location["name"] == "Interop plaza" and location["city"] == "Rotterdam"
    (pushed_evse,) = location["evses"]
    assert pushed_evse["uid"].lower() == evse["uid"].lower()
    assert pushed_evse["connectors"][0]["tariff_ids"][0].lower() == "xw-ac"
    tariff_there = received("tariffs")["xw-ac"]
    assert tariff_there["currency"] == "EUR"
    assert str(tariff_there["elements"][0]["price_components"][0]["price"]) in {"0.42", "0.420", "0.4200"}
    async with server.api() as api:
        (ours,) = [p for p in (await api.get("/api/v1/roaming-partners")).json() if p["id"] == partner["id"]]
    assert ours["status"] == "registered" and ours["last_contact_at"] and not ours["last_error"]
