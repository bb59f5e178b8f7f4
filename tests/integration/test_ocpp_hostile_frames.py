"""Frames built to break the gateway get a CallError of the right kind, and the station stays connected."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.ocpp_support import Server, raw_socket, start_server

BOOT_16 = '[2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]'
BOOT_201 = (
    '[2, "boot", "BootNotification", {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}]'
)


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("hostile"), module_db_url)
    yield running
    assert running.platform.stop() == 0


async def next_answer(ws: Any) -> list[Any]:
    """The next answer to us, passing over the platform's own calls."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message[0] != 2:
            return list(message)


async def still_connected(ws: Any) -> None:
    await ws.send('[2, "alive", "Heartbeat", {}]')
    assert (await next_answer(ws))[:2] == [3, "alive"]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(("subprotocol", "boot", "violation"), [
    ("ocpp1.6", BOOT_16, "FormationViolation"), ("ocpp2.0.1", BOOT_201, "FormatViolation"),
])  # fmt: skip
async def test_deeply_nested_frames_get_a_format_call_error_and_the_connection_is_kept(
    server: Server, subprotocol: str, boot: str, violation: str
) -> None:
    station = await server.new_station()
    async with raw_socket(server, station, subprotocol) as ws:
        await ws.send(boot)
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        for frame, message_id in (
            ("[" * 5000, "-1"),
            (nested(5000), "-1"),
            ('[2, "deep", "Heartbeat", {"a": ' + nested(5000) + "}]", "deep"),
            ('[2, "deeper", "DataTransfer", {"vendorId": "x", "data": ' + '{"a":' * 5000 + "1" + "}" * 5000 + "}]",
             "deeper"),
            ('[3, "answer", ' + '{"a":' * 5000 + "1" + "}" * 5000 + "]", "-1"),  # an id is read from CALLs only
        ):  # fmt: skip
            await ws.send(frame)
            answer = await next_answer(ws)
            assert answer[:3] == [4, message_id, violation], (frame[:60], answer)
            await still_connected(ws)
        # brackets inside strings are text, not nesting
        await ws.send('[2, "text", "DataTransfer", {"vendorId": "x", "data": "' + "[" * 5000 + '"}]')
        assert (await next_answer(ws))[:2] == [3, "text"]


async def test_connector_ids_beyond_32_bits_are_a_property_violation_not_an_internal_error(server: Server) -> None:
    station = await server.new_station()
    async with raw_socket(server, station) as ws:
        await ws.send(BOOT_16)
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        for connector in (10**20, 2**63, 2**31):
            status = {"connectorId": connector, "errorCode": "NoError", "status": "Available"}
            await ws.send(json.dumps([2, f"s{connector}", "StatusNotification", status]))
            answer = await next_answer(ws)
            assert answer[:3] == [4, f"s{connector}", "PropertyConstraintViolation"], answer
            await still_connected(ws)
    async with raw_socket(server, station, "ocpp2.0.1") as ws:
        await ws.send(BOOT_201)
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        for evse, connector in ((10**20, 1), (1, 10**20), (2**31, 1)):
            status = {"timestamp": "2026-01-01T00:00:00Z", "connectorStatus": "Available", "evseId": evse,
                      "connectorId": connector}  # fmt: skip
            await ws.send(json.dumps([2, "s", "StatusNotification", status]))
            answer = await next_answer(ws)
            assert answer[:3] == [4, "s", "PropertyConstraintViolation"], answer
            await still_connected(ws)


async def test_numbers_beyond_a_double_are_no_internal_error(server: Server) -> None:
    station = await server.new_station()
    async with raw_socket(server, station, "ocpp2.0.1") as ws:
        await ws.send(BOOT_201)
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        for number in ("1e400", "-1e400", "1" * 400):
            values = '{"evseId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": '
            await ws.send('[2, "m", "MeterValues", ' + values + number + "}]}]}]")
            answer = await next_answer(ws)
            assert answer[1] == "m" and (answer[0] == 3 or answer[2] != "InternalError"), (number, answer)
            await still_connected(ws)
