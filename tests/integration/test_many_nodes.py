"""Two real ``cpo serve`` processes on one PostgreSQL: commands cross nodes; a dead node's stations go offline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from ocpp.v16 import call

from tests.integration.ocpp_support import connect, start_server


async def test_a_station_on_node_b_is_commanded_through_node_a_and_shown_offline_when_b_dies(
    module_db_url: str, tmp_path: Path
) -> None:
    node_a = start_server(tmp_path / "a", module_db_url)
    node_b = start_server(tmp_path / "b", module_db_url)
    try:
        station = await node_a.new_station("MULTI")
        async with connect(node_b, station) as cp:  # the station's socket lives on node B
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            async with node_a.api() as api:  # the operator talks to node A
                live = (await api.get(f"/api/v1/stations/{station['id']}/status")).json()
                assert live["online"] is True
                started = time.monotonic()
                answer = await api.post(
                    f"/api/v1/stations/{station['id']}/commands",
                    json={"name": "remote_start", "arguments": {"id_tag": "VIA-A", "connector": 1}},
                )
                elapsed = time.monotonic() - started
            assert answer.json()["status"] == "answered" and answer.json()["accepted"] is True, answer.text
            assert cp.received[-1][1]["id_tag"] == "VIA-A"
            assert elapsed < 2, f"a cross-node command took {elapsed:.2f} s"

            node_b.platform.kill()  # node B dies without a word
            deadline = time.monotonic() + 10
            async with node_a.api() as api:
                while time.monotonic() < deadline:
                    if not (await api.get(f"/api/v1/stations/{station['id']}/status")).json()["online"]:
                        break
                    await asyncio.sleep(0.2)
                else:
                    raise AssertionError("node A still shows the station online 10 s after node B died")
                offline_after = time.monotonic() - deadline + 10
                command = await api.post(f"/api/v1/stations/{station['id']}/commands", json={"name": "reset"})
            assert command.json()["status"] == "offline"
            assert offline_after <= 3 + 0.5 + 2, f"marked offline after {offline_after:.1f} s (liveness timeout 3 s)"
    finally:
        for node in (node_a, node_b):
            node.platform.stop()
