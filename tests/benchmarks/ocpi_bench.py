"""OCPI benchmark: 10,000 published locations (1 to 4 EVSEs each) served to a partner, and a status pushed to
10 partners.

Run: .venv/bin/python -m tests.benchmarks.ocpi_bench [--locations 10000] [--partners 10]

Starts its own platform (``cpo serve``, fresh embedded PostgreSQL) and prints, in one run:
- p50/p99 of ``GET /ocpi/2.2.1/locations`` for a page of 100 at random offsets, beside ``GET /ocpi/versions``
  (same server, same client, no database work) as the reference;
- the time of a full paginated sync (every page, following ``Link``);
- how long one EVSE status change takes to reach each of 10 registered partners (the eMSP harness).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets

from cpo.db.embedded import start_embedded
from cpo.db.engine import plain_url
from cpo.secrets import hash_password
from tests.emsp_harness import Emsp, serve_emsp
from tests.platform import Platform, free_port, platform_env, run_cpo

PASSWORD = "benchmark-password-0001"


def token_header(token: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def seed(url: str, locations: int) -> str:
    """Sites, stations, EVSEs and connectors straight into PostgreSQL (the benchmark measures serving)."""
    connection = await asyncpg.connect(plain_url(url))
    try:
        tenant = await connection.fetchval("SELECT id FROM tenants ORDER BY created_at LIMIT 1")
        rng = random.Random(3)
        sites, stations, evses, connectors = [], [], [], []
        for n in range(locations):
            site, station = uuid.uuid4(), uuid.uuid4()
            sites.append(
                (site, tenant, f"Location {n:05d}", "Street 1", "Gent", "BEL", 51.0 + n / 1e5, 3.7, "Europe/Brussels")
            )
            stations.append((station, tenant, site, f"OB-{n:05d}"))
            for e in range(1, rng.randint(1, 4) + 1):
                evse = uuid.uuid4()
                evses.append((evse, tenant, station, e, f"OB-{n:05d}-{e}", f"BE*CPO*E{n:05d}{e}"))
                connectors.append((uuid.uuid4(), tenant, evse))
        await connection.copy_records_to_table("sites", records=[(*s, True, "EUR", '{"twentyfourseven": true}') for s in sites], columns=[
            "id", "tenant_id", "name", "address", "city", "country", "latitude", "longitude", "time_zone", "publish",
            "currency", "opening_times"])  # fmt: skip
        await connection.copy_records_to_table("stations", records=[(*s, 1, "Accepted") for s in stations],
                                               columns=["id", "tenant_id", "site_id", "identity", "security_profile",
                                                        "registration_status"])  # fmt: skip
        await connection.copy_records_to_table("evses", records=[(*e, True) for e in evses], columns=[
            "id", "tenant_id", "station_id", "ocpp_evse_id", "uid", "evse_id", "public"])  # fmt: skip
        await connection.copy_records_to_table("connectors", records=[
            (*c, 1, "IEC_62196_T2", "SOCKET", "AC_3_PHASE", 400, 32) for c in connectors], columns=[
            "id", "tenant_id", "evse_id", "ocpp_connector_id", "standard", "format", "power_type", "max_voltage",
            "max_amperage"])  # fmt: skip
        # what autovacuum does within a minute of a bulk load; the planner needs the statistics
        await connection.execute("VACUUM ANALYZE sites, stations, evses, connectors")
        return f"{len(evses)} EVSEs"
    finally:
        await connection.close()


async def register(base: str, api_token: str, emsp: Emsp) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        invited = (await http.post("/api/v1/roaming-partners/invite", json={"name": emsp.party_id},
                                   headers={"Authorization": f"Bearer {api_token}"})).json()  # fmt: skip
        answer = await http.post("/ocpi/2.2.1/credentials", json=emsp.credentials(),
                                 headers=token_header(invited["token_a"]))  # fmt: skip
        return str(answer.json()["data"]["token"])


async def timed_gets(http: httpx.AsyncClient, paths: list[str], headers: dict[str, str]) -> list[float]:
    times = []
    for path in paths:
        started = time.perf_counter()
        response = await http.get(path, headers=headers)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text[:300]
    return times


async def run(locations: int, partners: int) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="ocpi-bench-") as tmp, contextlib.ExitStack() as stack:
        home = Path(tmp)
        env = platform_env(home / "var", free_port(), {"CPO_LOG_LEVEL": "WARNING", "CPO_WORKERS": "1"})
        server = Platform(env, home / "serve.log")
        server.wait_ready(120)
        stack.callback(server.stop)
        url = start_embedded(home / "var")
        began = time.monotonic()
        made = await seed(url, locations)
        print(f"seeded {locations:,} published locations ({made}) in {time.monotonic() - began:.1f} s", flush=True)
        api_token = run_cpo(["tokens", "create", "--role", "tenant_admin"], env).stdout.strip()
        harnesses = [stack.enter_context(serve_emsp(f"P{n:02d}")) for n in range(partners)]
        tokens = [await register(server.url, api_token, h) for h in harnesses]
        auth = token_header(tokens[0])
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            rng = random.Random(5)
            pages = [f"/ocpi/2.2.1/locations?offset={rng.randrange(0, max(1, locations - 100))}&limit=100"
                     for _ in range(200)]  # fmt: skip
            await timed_gets(http, pages[:10], auth)  # warm up
            reference = await timed_gets(http, ["/ocpi/versions"] * 200, auth)
            page_times = await timed_gets(http, pages, auth)
            print(f"GET locations, a page of 100 (200 requests): p50 {statistics.median(page_times) * 1000:.1f} ms, "
                  f"p99 {percentile(page_times, 0.99) * 1000:.1f} ms (target: p99 under 50 ms)")  # fmt: skip
            print(f"  reference GET /ocpi/versions: p50 {statistics.median(reference) * 1000:.1f} ms, "
                  f"p99 {percentile(reference, 0.99) * 1000:.1f} ms")  # fmt: skip
            started, seen, path = time.perf_counter(), 0, "/ocpi/2.2.1/locations?limit=100"
            while path:
                response = await http.get(path, headers=auth)
                seen += len(response.json()["data"])
                link = response.headers.get("link")
                path = link[link.index("<") + 1 : link.index(">")].split("/ocpi/", 1)[1] if link else ""
                path = f"/ocpi/{path}" if path else ""
            print(
                f"full paginated sync: {seen:,} locations in {time.perf_counter() - started:.2f} s (target: under 5 s)"
            )
        # one EVSE status change, pushed to every partner
        station = "OB-00000"
        connection = await asyncpg.connect(plain_url(url))
        try:
            await connection.execute("UPDATE stations SET password_hash = $1 WHERE identity = $2",
                                     hash_password(PASSWORD), station)  # fmt: skip
        finally:
            await connection.close()
        headers = [("Authorization", "Basic " + base64.b64encode(f"{station}:{PASSWORD}".encode()).decode())]
        protocols: Any = ["ocpp1.6"]
        address = server.url.replace("http", "ws") + f"/ocpp/{station}"
        async with websockets.connect(address, subprotocols=protocols, additional_headers=headers) as ws:
            await _call(ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            await asyncio.sleep(3)
            for harness in harnesses:
                harness.received.clear()
                harness.arrived.clear()
            sent = time.monotonic()
            await _call(ws, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
            deadline = sent + 30
            # the harnesses serve from their own threads: poll what they recorded
            while time.monotonic() < deadline and not all(  # noqa: ASYNC110
                any(m == "PATCH" and b.get("status") == "CHARGING" for m, _, b in h.received) for h in harnesses
            ):  # fmt: skip
                await asyncio.sleep(0.01)
            delays = [next(t for (m, _, b), t in zip(h.received, h.arrived, strict=False)
                           if m == "PATCH" and b.get("status") == "CHARGING") - sent
                      for h in harnesses if any(m == "PATCH" for m, _, _ in h.received)]  # fmt: skip
        if len(delays) == len(harnesses):
            print(f"status change pushed to {len(delays)} partners: all within {max(delays) * 1000:.0f} ms "
                  f"(median {statistics.median(delays) * 1000:.0f} ms; target: within 1 s)")  # fmt: skip
        else:
            print(f"status change reached only {len(delays)} of {len(harnesses)} partners within 30 s")


_ids = iter(range(1, 1_000_000))


async def _call(ws: Any, action: str, payload: dict[str, Any]) -> Any:
    import json

    message_id = str(next(_ids))
    await ws.send(json.dumps([2, message_id, action, payload]))
    while True:
        reply = json.loads(await ws.recv())
        if reply[0] in (3, 4) and reply[1] == message_id:
            return reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=10_000)
    parser.add_argument("--partners", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.locations, args.partners))


if __name__ == "__main__":
    main()
