"""Handshake rules and bad frames: the right refusal or CallError, and the connection lives on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.v16 import call

from tests.integration.ocpp_support import Server, basic, connect, raw_socket, start_server


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("frames"), module_db_url)
    yield running
    assert running.platform.stop() == 0


async def test_unknown_identity_is_404_and_wrong_password_401(server: Server) -> None:
    station = await server.new_station()
    with pytest.raises(websockets.InvalidStatus) as unknown:
        async with websockets.connect(server.ws_url + "NO-SUCH-STATION", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            pass
    assert unknown.value.response.status_code == 404
    for headers in (
        {},
        {"Authorization": basic(station["identity"], "x" * 20)},
        {"Authorization": basic("someone-else", station["password"])},
    ):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                server.ws_url + station["identity"], subprotocols=["ocpp1.6"], additional_headers=headers
            ):  # type: ignore[list-item]
                pass
        assert refused.value.response.status_code == 401


async def test_profile_2_stations_are_refused_without_tls(server: Server) -> None:
    station = await server.new_station(security_profile=2)
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(server, station):
            pass
    assert refused.value.response.status_code == 401


async def test_subprotocols_newest_common_one_or_none_and_close(server: Server) -> None:
    station = await server.new_station()
    headers = {"Authorization": basic(station["identity"], station["password"])}
    url = server.ws_url + station["identity"]
    async with websockets.connect(url, subprotocols=["ocpp1.6", "ocpp2.0.1"], additional_headers=headers) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "ocpp2.0.1"
    async with websockets.connect(url, subprotocols=["ocpp2.1", "ocpp1.6"], additional_headers=headers) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "ocpp1.6"
    with pytest.raises(websockets.ConnectionClosed):
        async with websockets.connect(url, subprotocols=["ocpp1.5"], additional_headers=headers) as ws:  # type: ignore[list-item]
            await ws.recv()


CASES_16 = [
    ("not json at all", "-1", "FormationViolation"),
    ('[2, "m1", "Heartbeat"]', "m1", "FormationViolation"),
    ('{"a": 1}', "-1", "FormationViolation"),
    ('[2, "m2", "Heartbeat", {"unexpected": 1}]', "m2", "FormationViolation"),
    ('[2, "m3", "FlyToTheMoon", {}]', "m3", "NotImplemented"),
    ('[2, "m4", "RemoteStartTransaction", {"idTag": "x"}]', "m4", "NotSupported"),
    ('[2, "m5", "MeterValues", {"connectorId": "one", "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}]}]', "m5", "TypeConstraintViolation"),
    ('[2, "m6", "StartTransaction", {"connectorId": 1, "idTag": "x", "timestamp": "2026-01-01T00:00:00Z"}]', "m6", "OccurenceConstraintViolation"),
    ('[2, "m7", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}]', "m7", "PropertyConstraintViolation"),
    ('[2, "m8", "Authorize", {"idTag": "' + "x" * 21 + '"}]', "m8", "PropertyConstraintViolation"),
    ('[2, "m9", "StartTransaction", {"connectorId": 1, "idTag": "x", "meterStart": 0, "timestamp": "yesterday"}]', "m9", "PropertyConstraintViolation"),
    ('[7, "m10", {}]', "m10", "ProtocolError"),
]  # fmt: skip


async def test_bad_frames_get_the_right_call_error_and_the_connection_lives_on(server: Server) -> None:
    station = await server.new_station()
    async with raw_socket(server, station) as ws:
        await ws.send('[2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]')
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        for frame, message_id, code in CASES_16:
            await ws.send(frame)
            answer = await next_answer(ws)
            assert answer[:3] == [4, message_id, code], (frame, answer)
            assert isinstance(answer[3], str) and isinstance(answer[4], dict)
        await ws.send('[2, "big", "DataTransfer", {"vendorId": "x", "data": "' + "y" * 1_100_000 + '"}]')
        assert (await next_answer(ws))[:3] == [4, "big", "FormationViolation"]
        await ws.send('[2, "alive", "Heartbeat", {}]')
        assert (await next_answer(ws))[:2] == [3, "alive"]


async def test_201_spells_format_violation_and_answers_unknown_message_types(server: Server) -> None:
    station = await server.new_station()
    async with raw_socket(server, station, "ocpp2.0.1") as ws:
        await ws.send(
            '[2, "b", "BootNotification", {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}]'
        )
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        for frame, expected in (("{}", [4, "-1", "FormatViolation"]), ('[9, "x", {}]', [4, "x", "MessageTypeNotSupported"]),
                                ('[2, "y", "Heartbeat", {"a": 1}]', [4, "y", "FormatViolation"]),
                                ('[2, "z", "TransactionEvent", {"eventType": "Started"}]', [4, "z", "OccurrenceConstraintViolation"])):  # fmt: skip
            await ws.send(frame)
            assert (await next_answer(ws))[:3] == expected


async def test_a_reconnect_of_the_same_identity_replaces_the_old_socket(server: Server) -> None:
    station = await server.new_station()
    async with connect(server, station) as first:
        await first.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        async with connect(server, station) as second:
            await second.call(call.Heartbeat())
            await asyncio.sleep(0.2)
            assert first._connection.state.name == "CLOSED", "the old socket was closed by the server"
            async with server.api() as api:
                assert (await api.get(f"/api/v1/stations/{station['id']}/status")).json()["online"] is True
                command = await api.post(
                    f"/api/v1/stations/{station['id']}/commands", json={"name": "get_configuration"}
                )
            assert command.json()["status"] == "answered", "commands go to the new socket"


async def test_a_station_that_stops_answering_is_found_dead_and_marked_offline(server: Server) -> None:
    station = await server.new_station()
    alive = await server.new_station()
    async with raw_socket(server, station) as ws, connect(server, alive) as cp:
        await ws.send('[2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]')
        await ws.recv()
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        # the raw station now reads nothing and answers nothing, like a socket whose other end is gone
        async with server.api() as api:
            deadline = asyncio.get_running_loop().time() + 20
            while asyncio.get_running_loop().time() < deadline:
                if not (await api.get(f"/api/v1/stations/{station['id']}/status")).json()["online"]:
                    break
                await asyncio.sleep(0.5)
            else:
                raise AssertionError("a dead station still shows online")
            # the other one was probed too, answered (even if only NotImplemented), and stays online
            assert (await api.get(f"/api/v1/stations/{alive['id']}/status")).json()["online"] is True


async def test_a_station_registers_itself_when_its_tenant_allows(server: Server) -> None:
    async with server.api() as api:
        made = await api.post("/api/v1/tenants/current/enrolment-secret")
    assert made.status_code == 201, made.text
    # the station knows its tenant's enrolment secret and presents it as its password
    newcomer = {"identity": "NEW-ARRIVAL-1", "password": made.json()["enrolment_secret"]}
    async with connect(server, newcomer) as cp:
        boot = await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        assert boot.status == "Pending"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(server, newcomer, password="another-password-entirely"):
            pass
    assert refused.value.response.status_code == 401
    async with server.api() as api:
        listed = [s for s in (await api.get("/api/v1/stations")).json() if s["identity"] == "NEW-ARRIVAL-1"]
    assert listed and listed[0]["registration_status"] == "Pending"


frames_strategy = st.one_of(
    st.text(max_size=200),
    st.builds(lambda items: msgspec.json.encode(items).decode(), st.lists(
        st.one_of(st.integers(-5, 10), st.text(max_size=40), st.none(), st.booleans(),
                  st.dictionaries(st.text(max_size=20), st.one_of(st.integers(), st.text(max_size=30), st.none()), max_size=5)),
        max_size=6)),
    st.builds(
        lambda action, payload: msgspec.json.encode([2, "h", action, payload]).decode(),
        st.sampled_from(["BootNotification", "StartTransaction", "StopTransaction", "MeterValues", "StatusNotification", "Authorize", "Heartbeat", "DataTransfer"]),
        st.dictionaries(st.sampled_from(["connectorId", "idTag", "meterStart", "meterStop", "timestamp", "transactionId", "status", "errorCode", "meterValue", "vendorId"]),
                        st.one_of(st.integers(-2**40, 2**40), st.text(max_size=30), st.none(), st.lists(st.integers(), max_size=3)), max_size=6),
    ),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(frames_strategy, min_size=1, max_size=8))
async def test_random_frames_never_crash_hang_or_half_write(server: Server, batch: list[str]) -> None:
    station = getattr(test_random_frames_never_crash_hang_or_half_write, "station", None)
    if station is None:
        station = await server.new_station("FUZZ")
        test_random_frames_never_crash_hang_or_half_write.station = station  # type: ignore[attr-defined]
    async with raw_socket(server, station) as ws:
        await ws.send('[2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]')
        await asyncio.wait_for(ws.recv(), 5)
        for frame in batch:
            await ws.send(frame)
            try:
                parsed = json.loads(frame)
            except ValueError:
                parsed = None
            is_answer = (
                isinstance(parsed, list) and len(parsed) >= 3 and parsed[0] in (3, 4) and type(parsed[0]) is int
                and isinstance(parsed[1], str) and 0 < len(parsed[1]) <= 36
            )  # fmt: skip
            if is_answer:
                continue  # a well-formed answer to a call we never made gets no reply
            answer = await next_answer(ws)
            assert answer[0] in (3, 4)
        await ws.send('[2, "still-here", "Heartbeat", {}]')
        answer = await next_answer(ws)
        assert answer[:2] == [3, "still-here"]


async def next_answer(ws: Any) -> list[Any]:
    """The next answer to us, passing over the platform's own calls (it checks the station's local list)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message[0] != 2:
            return list(message)


async def test_a_connection_that_stops_answering_websocket_pings_is_dropped(
    module_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Pings every second; the OCPP-level probe is pushed far out, so only the websocket ping can find it.
    pinging = start_server(
        tmp_path_factory.mktemp("pings"), module_db_url, CPO_OCPP_PING_SECONDS="1", CPO_OCPP_PROBE_SECONDS="600"
    )
    try:
        station, alive = await pinging.new_station(), await pinging.new_station()
        async with raw_socket(pinging, station) as ws, connect(pinging, alive) as cp:
            await ws.send('[2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]')
            await ws.recv()
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            ws.transport.pause_reading()  # TCP stays up, but no pong ever comes back
            async with pinging.api() as api:
                deadline = asyncio.get_running_loop().time() + 15
                while (await api.get(f"/api/v1/stations/{station['id']}/status")).json()["online"]:
                    assert asyncio.get_running_loop().time() < deadline, (
                        "a station that ignores pings still shows online"
                    )
                    await asyncio.sleep(0.25)
                # the station whose websocket answers pings (and sends nothing else) stays connected
                await asyncio.sleep(2.5)
                assert (await api.get(f"/api/v1/stations/{alive['id']}/status")).json()["online"] is True
            ws.transport.resume_reading()
    finally:
        assert pinging.platform.stop() == 0
