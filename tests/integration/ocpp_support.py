"""Stations for the tests: the ``ocpp`` package's ChargePoint classes over real websockets."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201

from tests.conftest import SITE
from tests.platform import Platform, free_port, platform_env, run_cpo

_numbers = itertools.count(1)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Station16(ChargePoint16):
    """A 1.6 station that accepts what the CSMS asks and remembers it, local authorization list included."""

    received: list[tuple[str, dict[str, Any]]]
    local_list: dict[str, str]
    list_version: int

    @on("GetLocalListVersion")
    def get_list_version(self) -> Any:
        return result16.GetLocalListVersion(list_version=self.list_version)

    @on("SendLocalList")
    def send_local_list(self, list_version: int, update_type: str, local_authorization_list: Any = None) -> Any:
        # OCPP 1.6 §5.15: Full replaces the list; Differential adds, changes, and removes (no idTagInfo).
        if update_type == "Full":
            self.local_list = {}
        for entry in local_authorization_list or []:
            if entry.get("id_tag_info"):
                self.local_list[entry["id_tag"]] = entry["id_tag_info"]["status"]
            else:
                self.local_list.pop(entry["id_tag"], None)
        self.list_version = list_version
        return result16.SendLocalList(status="Accepted")

    def local_authorize(self, id_tag: str) -> str:
        """What this station decides alone, offline: its list, else unknown."""
        return self.local_list.get(id_tag, "Unknown")

    remote_start_status = "Accepted"
    remote_start_delay = 0.0
    """Seconds before it answers a RemoteStartTransaction (longer than the call timeout: no answer in time)."""

    @on("RemoteStartTransaction")
    async def remote_start(self, id_tag: str, **kwargs: Any) -> Any:
        self.received.append(("RemoteStartTransaction", {"id_tag": id_tag, **kwargs}))
        if self.remote_start_delay:
            await asyncio.sleep(self.remote_start_delay)
        return result16.RemoteStartTransaction(status=self.remote_start_status)

    @on("RemoteStopTransaction")
    def remote_stop(self, transaction_id: int) -> Any:
        self.received.append(("RemoteStopTransaction", {"transaction_id": transaction_id}))
        return result16.RemoteStopTransaction(status="Accepted")

    @on("SetChargingProfile")
    def set_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        self.received.append(("SetChargingProfile", cs_charging_profiles))
        return result16.SetChargingProfile(status="Accepted")

    @on("UnlockConnector")
    def unlock_connector(self, connector_id: int) -> Any:
        self.received.append(("UnlockConnector", {"connector_id": connector_id}))
        return result16.UnlockConnector(status="Unlocked")

    @on("ReserveNow")
    def reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **kwargs: Any) -> Any:
        self.received.append(("ReserveNow", {"connector_id": connector_id, "id_tag": id_tag,
                                             "reservation_id": reservation_id}))  # fmt: skip
        self.reservations = getattr(self, "reservations", set()) | {reservation_id}
        return result16.ReserveNow(status="Accepted")

    @on("CancelReservation")
    def cancel_reservation(self, reservation_id: int) -> Any:
        self.received.append(("CancelReservation", {"reservation_id": reservation_id}))
        known = reservation_id in getattr(self, "reservations", set())
        self.reservations = getattr(self, "reservations", set()) - {reservation_id}
        return result16.CancelReservation(status="Accepted" if known else "Rejected")

    @on("GetConfiguration")
    def get_configuration(self, **kwargs: Any) -> Any:
        return result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        )


class Station201(ChargePoint201):
    received: list[tuple[str, dict[str, Any]]]

    @on("RequestStartTransaction")
    def remote_start(self, id_token: dict[str, Any], remote_start_id: int, **kwargs: Any) -> Any:
        self.received.append(("RequestStartTransaction", {"id_token": id_token, **kwargs}))
        return result201.RequestStartTransaction(status="Accepted")

    @on("Reset")
    def reset(self, type: str, **kwargs: Any) -> Any:
        self.received.append(("Reset", {"type": type}))
        return result201.Reset(status="Accepted")


@dataclass
class Server:
    platform: Platform
    token: str

    @property
    def url(self) -> str:
        return self.platform.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("https://", "wss://").replace("http://", "ws://") + "/ocpp/"

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
            verify=self.platform.verify,
        )

    async def new_station(self, prefix: str = "CP", **fields: Any) -> dict[str, Any]:
        async with self.api() as api:
            site = (await api.post("/api/v1/sites", json=SITE)).json()
            body = {"site_id": site["id"], "identity": f"{prefix}-{next(_numbers)}", **fields}
            created = await api.post("/api/v1/stations", json=body)
            assert created.status_code == 201, created.text
            return dict(created.json())

    async def add_badge(self, uid: str, status: str = "active") -> None:
        async with self.api() as api:
            response = await api.post("/api/v1/badges", json={"uid": uid, "status": status})
            assert response.status_code in (201, 409), response.text


def start_server(tmp: Path, database_url: str, verify: Any = True, **extra: str) -> Server:
    env = platform_env(
        tmp / "var", free_port(),
        {"CPO_DATABASE_URL": database_url, "CPO_OCPP_NODE_BEAT_SECONDS": "0.5", "CPO_OCPP_NODE_TIMEOUT_SECONDS": "3",
         "CPO_OCPP_CALL_TIMEOUT_SECONDS": "5", "CPO_OCPP_PROBE_SECONDS": "2", "CPO_OCPP_LIST_CHECK_DELAY_SECONDS": "0.5",
         **extra},
    )  # fmt: skip
    tmp.mkdir(parents=True, exist_ok=True)
    platform = Platform(env, tmp / f"serve-{env['CPO_PORT']}.log", verify)
    platform.wait_ready()
    token = run_cpo(["tokens", "create", "--role", "tenant_admin"], env)
    assert token.returncode == 0, token.stderr
    return Server(platform, token.stdout.strip())


@contextlib.asynccontextmanager
async def connect(
    server: Server, station: dict[str, Any], version: str = "1.6", password: str | None = None
) -> AsyncIterator[Any]:
    """A connected ChargePoint of the given version, its message loop running."""
    identity = station["identity"]
    headers = {"Authorization": basic(identity, password or station["password"])}
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    async with websockets.connect(
        server.ws_url + identity, subprotocols=[subprotocol], additional_headers=headers
    ) as ws:  # type: ignore[list-item]
        cls = Station16 if version == "1.6" else Station201
        cp = cls(identity, ws)
        cp.received = []
        cp.local_list, cp.list_version = {}, 0
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


@contextlib.asynccontextmanager
async def raw_socket(server: Server, station: dict[str, Any], subprotocol: str = "ocpp1.6") -> AsyncIterator[Any]:
    headers = {"Authorization": basic(station["identity"], station["password"])}
    async with websockets.connect(
        server.ws_url + station["identity"],
        subprotocols=[subprotocol],
        additional_headers=headers,
        max_size=None,  # type: ignore[list-item]
    ) as ws:
        yield ws
