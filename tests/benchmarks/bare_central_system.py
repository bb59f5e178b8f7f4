"""The reference: a bare OCPP 1.6 central system on the ``ocpp`` package (schema validation on, no storage).

Usage: python -m tests.benchmarks.bare_central_system PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result

_ids = itertools.count(1)


class CentralSystemSide(ChargePoint):
    @on("BootNotification")
    def boot(self, **_: Any) -> Any:
        return call_result.BootNotification(current_time=datetime.now(UTC).isoformat(), interval=300, status="Accepted")

    @on("StartTransaction")
    def start_transaction(self, **_: Any) -> Any:
        return call_result.StartTransaction(transaction_id=next(_ids), id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    def meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on("StopTransaction")
    def stop_transaction(self, **_: Any) -> Any:
        return call_result.StopTransaction()


async def handle(websocket: Any) -> None:
    identity = websocket.request.path.rsplit("/", 1)[-1]
    with contextlib.suppress(websockets.ConnectionClosed):
        await CentralSystemSide(identity, websocket).start()


async def main(port: int) -> None:
    async with websockets.serve(
        handle,
        "127.0.0.1",
        port,
        subprotocols=["ocpp1.6"],
        ping_interval=None,
        # Like the platform: no per-message compression (OCPP security profile 2 forbids it anyway).
        compression=None,
    ):  # type: ignore[list-item]
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
