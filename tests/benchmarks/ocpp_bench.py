"""OCPP gateway benchmarks: throughput against a bare ``ocpp`` central system, scale, reconnect storm.

Run: make bench   (or: .venv/bin/python -m tests.benchmarks.ocpp_bench throughput|scale|storm|all)
Each run starts its own platform (``cpo serve`` on a fresh embedded PostgreSQL) and, for the throughput
reference, a bare central system built on the ``ocpp`` package, both driven by the same load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil
import websockets

from cpo.db.embedded import start_embedded
from cpo.db.engine import plain_url
from tests.platform import Platform, free_port, platform_env, run_cpo

PASSWORD = "benchmark-password-0001"
BADGE = "BENCH0001"
_ids = itertools.count(1)


def frame(action: str, payload: dict[str, object]) -> tuple[str, str]:
    message_id = f"b{next(_ids)}"
    return message_id, json.dumps([2, message_id, action, payload])


def meter_payload(tx: int, wh: int) -> dict[str, object]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": now, "sampledValue": [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
    ]}]}  # fmt: skip


@dataclass
class Station:
    identity: str
    url: str
    tx: int = 0
    wh: int = 0
    latencies: list[float] = field(default_factory=list)
    ws: websockets.ClientConnection | None = None

    async def connect(self) -> None:
        auth = base64.b64encode(f"{self.identity}:{PASSWORD}".encode()).decode()
        self.ws = await websockets.connect(
            self.url + self.identity, subprotocols=["ocpp1.6"], additional_headers={"Authorization": f"Basic {auth}"},  # type: ignore[list-item]
            ping_interval=None, open_timeout=120, max_queue=None,
        )  # fmt: skip

    async def call(self, action: str, payload: dict[str, object]) -> object:
        assert self.ws is not None
        message_id, text = frame(action, payload)
        started = time.perf_counter()
        await self.ws.send(text)
        while True:
            answer = json.loads(await self.ws.recv())
            if answer[0] == 2:  # the platform asks something (its local list check): like many stations, no list
                await self.ws.send(json.dumps([4, answer[1], "NotImplemented", "no local list here", {}]))
                continue
            if answer[1] == message_id:
                break
        self.latencies.append(time.perf_counter() - started)
        if answer[0] != 3:
            raise RuntimeError(f"{action}: {answer}")
        return answer[2]

    async def begin(self) -> None:
        await self.call("BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "B1"})
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        answer = await self.call(
            "StartTransaction", {"connectorId": 1, "idTag": BADGE, "meterStart": 0, "timestamp": now}
        )
        self.tx = int(answer["transactionId"])  # type: ignore[index]
        self.latencies.clear()


class LagMonitor:
    """How late the load generator's own event loop runs: latency it adds to every measured call."""

    def __init__(self, tick: float = 0.01) -> None:
        self.tick = tick
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.tick)
            self.lags.append(loop.time() - before - self.tick)

    def __enter__(self) -> LagMonitor:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def summary(self) -> str:
        return (f"load generator loop lag p50 {percentile(self.lags, 0.5) * 1000:.1f} ms,"
                f" p99 {percentile(self.lags, 0.99) * 1000:.1f} ms, max {max(self.lags, default=0) * 1000:.1f} ms")  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


@contextmanager
def platform(stations: int, home: Path) -> Iterator[tuple[Platform, str]]:
    env = platform_env(
        home / "var", free_port(),
        {"CPO_LOG_LEVEL": "WARNING", "CPO_OCPP_NODE_BEAT_SECONDS": "2", "CPO_WORKERS": os.environ.get("BENCH_WORKERS", "2"),
         "CPO_OCPP_LOCAL_LISTS": os.environ.get("BENCH_LOCAL_LISTS", "true")},
    )  # fmt: skip
    csv_file = home / "stations.csv"
    csv_file.write_text("id,password,site\n" + "".join(f"B-{n:05d},{PASSWORD},Bench\n" for n in range(stations)))
    started = time.monotonic()
    result = run_cpo(["stations", "import", str(csv_file)], env, limit=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    (home / "badges.csv").write_text(f"uid\n{BADGE}\n")
    run_cpo(["badges", "import", str(home / "badges.csv")], env)
    print(f"  registered {stations} stations in {time.monotonic() - started:.1f} s", flush=True)
    server = Platform(env, home / "serve.log")
    server.wait_ready(120)
    try:
        yield server, start_embedded(home / "var")
    finally:
        server.stop()


def worker_rss(server: Platform) -> int:
    """Resident memory of the processes that serve (the server workers, not PostgreSQL)."""
    parent = psutil.Process(server.process.pid)
    return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)] if "postgres" not in p.name())


async def drive(stations: list[Station], seconds: float) -> tuple[int, list[float]]:
    deadline = time.monotonic() + seconds

    async def loop(station: Station) -> None:
        while time.monotonic() < deadline:
            station.wh += 25
            await station.call("MeterValues", meter_payload(station.tx, station.wh))

    await asyncio.gather(*(loop(s) for s in stations))
    latencies = [x for s in stations for x in s.latencies]
    return len(latencies), latencies


async def connect_all(stations: list[Station], at_once: int = 200) -> None:
    gate = asyncio.Semaphore(at_once)

    async def one(station: Station) -> None:
        async with gate:
            await station.connect()

    await asyncio.gather(*(one(s) for s in stations))


async def begin_all(stations: list[Station], at_once: int = 500) -> None:
    gate = asyncio.Semaphore(at_once)

    async def one(station: Station) -> None:
        async with gate:
            await station.begin()

    await asyncio.gather(*(one(s) for s in stations))


async def count_samples(database_url: str) -> int:
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        return int(await connection.fetchval("SELECT count(*) FROM meter_samples"))
    finally:
        await connection.close()


def report(name: str, calls: int, seconds: float, latencies: list[float]) -> float:
    rate = calls / seconds
    print(f"  {name:<34} {rate:8.0f} calls/s   p50 {percentile(latencies, 0.5) * 1000:6.1f} ms"
          f"   p99 {percentile(latencies, 0.99) * 1000:6.1f} ms   ({calls} calls)", flush=True)  # fmt: skip
    return rate


@contextmanager
def bare_central_system() -> Iterator[str]:
    """The reference: a central system on the ``ocpp`` package alone, in its own process."""
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.bare_central_system", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert bare.stdout is not None and bare.stdout.readline().strip() == "ready"
        yield f"ws://127.0.0.1:{port}/ocpp/"
    finally:
        bare.terminate()
        bare.wait(10)


async def throughput(count: int = 200, seconds: float = 10.0, rounds: int = 3) -> None:
    print(f"throughput: {count} stations, one MeterValues in flight each, {rounds} rounds of {seconds:g} s each"
          " on the platform and on the bare central system, taken in turn", flush=True)  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as tmp,
        platform(count, Path(tmp)) as (server, database_url),
        bare_central_system() as bare_url,
    ):
        ours = [Station(f"B-{n:05d}", server.url.replace("http", "ws") + "/ocpp/") for n in range(count)]
        theirs = [Station(f"R-{n:05d}", bare_url) for n in range(count)]
        for side in (ours, theirs):
            await connect_all(side)
            await asyncio.gather(*(s.begin() for s in side))
        rates: dict[str, list[float]] = {"ours": [], "theirs": []}
        sent = stored = 0
        for round_ in range(1, rounds + 1):
            before = await count_samples(database_url)
            calls, latencies = await drive(ours, seconds)
            stored += await count_samples(database_url) - before
            sent += calls * 2
            rates["ours"].append(report(f"#{round_} platform (stored in PostgreSQL)", calls, seconds, latencies))
            for s in ours:
                s.latencies.clear()
            calls, latencies = await drive(theirs, seconds)
            rates["theirs"].append(report(f"#{round_} bare ocpp central system", calls, seconds, latencies))
            for s in theirs:
                s.latencies.clear()
        print(f"  meter samples stored: {stored} of {sent} sent", flush=True)
        for s in [*ours, *theirs]:
            assert s.ws is not None
            await s.ws.close()
    ours_median, theirs_median = statistics.median(rates["ours"]), statistics.median(rates["theirs"])
    print(f"  median: platform {ours_median:.0f} calls/s, bare {theirs_median:.0f} calls/s;"
          f" ratio {ours_median / theirs_median:.2f}x (target: at least 2x)", flush=True)  # fmt: skip


async def scale(count: int = 5000, interval: float = 10.0, seconds: float = 40.0) -> None:
    print(
        f"scale: {count} stations connected, MeterValues every {interval:g} s each, measured for {seconds:g} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp, platform(count, Path(tmp)) as (server, _):
        url = server.url.replace("http", "ws") + "/ocpp/"
        await asyncio.sleep(3)
        rss_idle = worker_rss(server)
        stations = [Station(f"B-{n:05d}", url) for n in range(count)]
        first = count // 10
        started = time.monotonic()
        # A tenth first, to warm every cache and pool; the rest then shows what one more station costs.
        await connect_all(stations[:first])
        await begin_all(stations[:first])
        await asyncio.sleep(2)
        rss_before = worker_rss(server)
        await connect_all(stations[first:])
        await begin_all(stations[first:])
        print(f"  connected, booted and started {count} transactions in {time.monotonic() - started:.1f} s", flush=True)
        await asyncio.sleep(2)
        rss_after = worker_rss(server)
        deadline = time.monotonic() + seconds

        async def paced(station: Station, offset: float) -> None:
            await asyncio.sleep(offset)
            while time.monotonic() < deadline:
                station.wh += 30
                await station.call("MeterValues", meter_payload(station.tx, station.wh))
                await asyncio.sleep(interval)

        with LagMonitor() as lag:
            await asyncio.gather(*(paced(s, i * interval / count) for i, s in enumerate(stations)))
        latencies = [x for s in stations for x in s.latencies]
        report("platform at scale", len(latencies), seconds, latencies)
        per_station = (rss_after - rss_before) / (count - first)
        print(f"  server RSS {rss_idle / 2**20:.0f} MiB idle, {rss_before / 2**20:.0f} MiB with {first} stations,"
              f" {rss_after / 2**20:.0f} MiB with {count}: {per_station / 1024:.1f} KiB per further station"
              f" (target under 60 KB)", flush=True)  # fmt: skip
        print(f"  p99 {percentile(latencies, 0.99) * 1000:.1f} ms (target under 200 ms); {lag.summary()}", flush=True)
        for s in stations:
            assert s.ws is not None
            await s.ws.close()


async def storm(count: int = 2000) -> None:
    print(f"reconnect storm: {count} stations with open transactions, the node restarts", flush=True)
    with tempfile.TemporaryDirectory() as tmp, platform(count, Path(tmp)) as (server, database_url):
        url = server.url.replace("http", "ws") + "/ocpp/"
        stations = [Station(f"B-{n:05d}", url) for n in range(count)]
        await connect_all(stations)
        await asyncio.gather(*(s.begin() for s in stations))
        assert server.stop() == 0
        restarted = Platform(server.env, Path(tmp) / "serve-2.log")
        try:
            restarted.wait_ready(120)
            started = time.monotonic()
            refused = 0

            async def reconnect(station: Station) -> None:
                nonlocal refused
                for _ in range(5):
                    try:
                        await station.connect()
                        return
                    except websockets.InvalidStatus:
                        refused += 1
                        await asyncio.sleep(1)

            await asyncio.gather(*(reconnect(s) for s in stations))  # all at once: no gate
            elapsed = time.monotonic() - started
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            await asyncio.gather(
                *(
                    s.call("StopTransaction", {"transactionId": s.tx, "meterStop": 1000, "timestamp": now})
                    for s in stations
                )
            )
            connection = await asyncpg.connect(plain_url(database_url))
            completed = await connection.fetchval("SELECT count(*) FROM charging_sessions WHERE status = 'completed'")
            await connection.close()
            print(f"  all {count} reconnected in {elapsed:.1f} s (target under 30 s); refused {refused};"
                  f" sessions completed after the restart: {completed} of {count}", flush=True)  # fmt: skip
            for s in stations:
                assert s.ws is not None
                await s.ws.close()
        finally:
            restarted.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=["throughput", "scale", "storm", "all"])
    parser.add_argument("--stations", type=int, help="override the number of stations")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.which in ("throughput", "all"):
        asyncio.run(throughput(args.stations or 200))
    if args.which in ("scale", "all"):
        asyncio.run(scale(args.stations or 5000))
    if args.which in ("storm", "all"):
        asyncio.run(storm(args.stations or 2000))


if __name__ == "__main__":
    main()
