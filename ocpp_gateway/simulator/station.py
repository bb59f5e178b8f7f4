"""A virtual charging station on the ``ocpp`` package's ChargePoint: boots, heartbeats, serves EVs, obeys.

EVs arrive, authorize with a badge, draw power on a realistic curve (battery size, current, phases, taper
near full), follow charging profiles after a short delay, and leave. Faults can be switched on: go offline
now and then, report Faulted, ignore charging profiles.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import random
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from ocpp_gateway.simulator.ev import VOLTS_PER_PHASE, Vehicle

log = logging.getLogger("ocpp_gateway.simulator")
HARDWARE_MAX_A = 32.0


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Faults:
    offline_every_seconds: float | None = None
    offline_for_seconds: float = 10.0
    faulted: bool = False
    ignore_profiles: bool = False


@dataclass
class StationPlan:
    identity: str
    password: str
    version: str = "1.6"
    badge: str = "DEMO-BADGE"
    meter_seconds: float = 10.0
    arrival_seconds: tuple[float, float] = (5.0, 30.0)
    stay_seconds: tuple[float, float] = (120.0, 900.0)
    profile_delay_seconds: float = 3.0
    faults: Faults = field(default_factory=Faults)
    seed: int | None = None


def _limit_amps(schedule_periods: list[Any], unit: str, phases: int) -> float | None:
    if not schedule_periods:
        return None
    first = schedule_periods[0]
    limit = float(first["limit"] if isinstance(first, dict) else first.limit)
    if unit == "W":
        # OCPP 1.6 §7.12: W over 230 V per phase; numberPhases defaults to 3.
        return limit / (VOLTS_PER_PHASE * (phases or 3))
    return limit


class _Sim16(ChargePoint16):
    sim: VirtualStation

    @on("RemoteStartTransaction")
    def remote_start(self, id_tag: str, **_: Any) -> Any:
        accepted = self.sim.request_start(id_tag)
        return result16.RemoteStartTransaction(status="Accepted" if accepted else "Rejected")

    @on("RemoteStopTransaction")
    def remote_stop(self, transaction_id: int) -> Any:
        accepted = self.sim.request_stop(str(transaction_id))
        return result16.RemoteStopTransaction(status="Accepted" if accepted else "Rejected")

    @on("SetChargingProfile")
    def set_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        schedule = cs_charging_profiles["charging_schedule"]
        periods = [{"limit": p["limit"]} for p in schedule["charging_schedule_period"]]
        phases = schedule["charging_schedule_period"][0].get("number_phases", 3)
        self.sim.apply_limit(_limit_amps(periods, schedule["charging_rate_unit"], phases))
        return result16.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def clear_profile(self, **_: Any) -> Any:
        self.sim.apply_limit(None)
        return result16.ClearChargingProfile(status="Accepted")

    @on("ChangeAvailability")
    def change_availability(self, connector_id: int, type: str) -> Any:
        return result16.ChangeAvailability(status="Accepted")

    @on("Reset")
    def reset(self, type: str) -> Any:
        return result16.Reset(status="Accepted")

    @on("UnlockConnector")
    def unlock(self, connector_id: int) -> Any:
        return result16.UnlockConnector(status="Unlocked")

    @on("TriggerMessage")
    def trigger(self, requested_message: str, **_: Any) -> Any:
        return result16.TriggerMessage(status="Accepted")

    @on("GetConfiguration")
    def get_configuration(self, **_: Any) -> Any:
        return result16.GetConfiguration(configuration_key=[
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "MeterValueSampleInterval", "readonly": False, "value": str(int(self.sim.plan.meter_seconds))},
        ])  # fmt: skip

    @on("ChangeConfiguration")
    def change_configuration(self, key: str, value: str) -> Any:
        return result16.ChangeConfiguration(status="Accepted")

    @on("GetCompositeSchedule")
    def composite(self, connector_id: int, duration: int, **_: Any) -> Any:
        return result16.GetCompositeSchedule(status="Accepted")

    @on("SendLocalList")
    def send_local_list(self, list_version: int, update_type: str, **_: Any) -> Any:
        self.sim.local_list_version = list_version
        return result16.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def local_list_version(self) -> Any:
        return result16.GetLocalListVersion(list_version=self.sim.local_list_version)


class _Sim201(ChargePoint201):
    sim: VirtualStation

    @on("RequestStartTransaction")
    def remote_start(self, id_token: dict[str, Any], remote_start_id: int, **_: Any) -> Any:
        accepted = self.sim.request_start(id_token["id_token"])
        return result201.RequestStartTransaction(status="Accepted" if accepted else "Rejected")

    @on("RequestStopTransaction")
    def remote_stop(self, transaction_id: str) -> Any:
        accepted = self.sim.request_stop(transaction_id)
        return result201.RequestStopTransaction(status="Accepted" if accepted else "Rejected")

    @on("SetChargingProfile")
    def set_profile(self, evse_id: int, charging_profile: dict[str, Any]) -> Any:
        schedule = charging_profile["charging_schedule"][0]
        periods = schedule["charging_schedule_period"]
        phases = periods[0].get("number_phases", 3)
        self.sim.apply_limit(_limit_amps(periods, schedule["charging_rate_unit"], phases))
        return result201.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def clear_profile(self, **_: Any) -> Any:
        self.sim.apply_limit(None)
        return result201.ClearChargingProfile(status="Accepted")

    @on("Reset")
    def reset(self, type: str, **_: Any) -> Any:
        return result201.Reset(status="Accepted")

    @on("ChangeAvailability")
    def change_availability(self, operational_status: str, **_: Any) -> Any:
        return result201.ChangeAvailability(status="Accepted")

    @on("UnlockConnector")
    def unlock(self, evse_id: int, connector_id: int) -> Any:
        return result201.UnlockConnector(status="Unlocked")

    @on("TriggerMessage")
    def trigger(self, requested_message: str, **_: Any) -> Any:
        return result201.TriggerMessage(status="Accepted")

    @on("SendLocalList")
    def send_local_list(self, version_number: int, update_type: str, **_: Any) -> Any:
        self.sim.local_list_version = version_number
        return result201.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def local_list_version(self) -> Any:
        return result201.GetLocalListVersion(version_number=self.sim.local_list_version)

    @on("GetVariables")
    def get_variables(self, get_variable_data: list[dict[str, Any]]) -> Any:
        return result201.GetVariables(get_variable_result=[
            {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"], "attribute_value": "1"}
            for d in get_variable_data
        ])  # fmt: skip

    @on("SetVariables")
    def set_variables(self, set_variable_data: list[dict[str, Any]]) -> Any:
        return result201.SetVariables(set_variable_result=[
            {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"]}
            for d in set_variable_data
        ])  # fmt: skip


class VirtualStation:
    """One station with one EVSE and connector, serving one EV after another."""

    def __init__(self, plan: StationPlan, url: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.plan = plan
        self.url = url.rstrip("/") + "/" + plan.identity
        self.ssl = ssl_context
        self.rng = random.Random(plan.seed)
        self.register_wh = float(self.rng.randint(100_000, 5_000_000))
        self.limit_a: float | None = None
        self.local_list_version = 0
        self.cp: _Sim16 | _Sim201 | None = None
        self.sessions_done = 0
        self.connected = asyncio.Event()
        self._remote_tag: str | None = None
        self._remote = asyncio.Event()
        self._stop_tx: str | None = None
        self._stop = asyncio.Event()
        self._tx: str | None = None
        self._seq = itertools.count()

    # --- commands from the CSMS (called inside the ocpp handlers: never await here) ---------------------------

    def request_start(self, id_tag: str) -> bool:
        if self._tx is not None:
            return False
        self._remote_tag = id_tag
        self._remote.set()
        return True

    def request_stop(self, transaction_id: str) -> bool:
        if self._tx is None or str(self._tx) != str(transaction_id):
            return False
        self._stop.set()
        return True

    def apply_limit(self, amps: float | None) -> None:
        if self.plan.faults.ignore_profiles:
            return  # the fault: say Accepted, change nothing
        loop = asyncio.get_running_loop()
        loop.call_later(self.plan.profile_delay_seconds, setattr, self, "limit_a", amps)

    # --- life ------------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect (and reconnect) until ``stop`` is set."""
        backoff = 1.0
        while not stop.is_set():
            try:
                await self._connected_life(stop)
                backoff = 1.0
            except (TimeoutError, OSError, websockets.WebSocketException) as error:
                log.info("station disconnected", extra={"station": self.plan.identity, "error": type(error).__name__})
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff + self.rng.random())
            backoff = min(backoff * 2, 30.0)

    async def _connected_life(self, stop: asyncio.Event) -> None:
        auth = base64.b64encode(f"{self.plan.identity}:{self.plan.password}".encode()).decode()
        subprotocol = "ocpp1.6" if self.plan.version == "1.6" else "ocpp2.0.1"
        async with websockets.connect(
            self.url, subprotocols=[subprotocol], additional_headers={"Authorization": f"Basic {auth}"},  # type: ignore[list-item]
            ssl=self.ssl, open_timeout=30, ping_interval=None,
        ) as ws:  # fmt: skip
            cp: _Sim16 | _Sim201 = (_Sim16 if self.plan.version == "1.6" else _Sim201)(self.plan.identity, ws)
            cp.sim = self
            self.cp = cp
            reader = asyncio.create_task(cp.start())
            try:
                await self._boot()
                self.connected.set()
                tasks = [asyncio.create_task(self._heartbeats()), asyncio.create_task(self._serve_evs())]
                if self.plan.faults.offline_every_seconds:
                    tasks.append(asyncio.create_task(asyncio.sleep(self.plan.faults.offline_every_seconds)))
                waiter = asyncio.create_task(stop.wait())
                done, pending = await asyncio.wait([reader, waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                for task in done:
                    if task is not waiter and not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            finally:
                self.connected.clear()
                reader.cancel()
        if self.plan.faults.offline_every_seconds and not stop.is_set():
            await asyncio.sleep(self.plan.faults.offline_for_seconds)

    async def _call(self, payload: Any) -> Any:
        assert self.cp is not None
        return await self.cp.call(payload)

    async def _boot(self) -> None:
        while True:
            if self.plan.version == "1.6":
                answer = await self._call(
                    call16.BootNotification(charge_point_vendor="CPO Simulator", charge_point_model="Virtual-22")
                )
            else:
                answer = await self._call(call201.BootNotification(
                    charging_station={"model": "Virtual-22", "vendor_name": "CPO Simulator"}, reason="PowerUp"))  # fmt: skip
            if answer.status == "Accepted":
                break
            await asyncio.sleep(max(1, answer.interval))
        await self._status("Faulted" if self.plan.faults.faulted else ("Charging" if self._tx else "Available"))

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(300)
            await self._call(call16.Heartbeat() if self.plan.version == "1.6" else call201.Heartbeat())

    async def _status(self, status: str) -> None:
        if self.plan.version == "1.6":
            await self._call(
                call16.StatusNotification(
                    connector_id=1,
                    error_code="OtherError" if status == "Faulted" else "NoError",
                    status=status,
                    timestamp=now_text(),
                )
            )
        else:
            mapped = {
                "Charging": "Occupied",
                "Preparing": "Occupied",
                "SuspendedEV": "Occupied",
                "Finishing": "Occupied",
            }.get(status, status)
            await self._call(
                call201.StatusNotification(timestamp=now_text(), connector_status=mapped, evse_id=1, connector_id=1)
            )

    async def _serve_evs(self) -> None:
        if self.plan.faults.faulted:
            await asyncio.Event().wait()  # a faulted station serves nobody
        while True:
            if self._tx is None:
                arrival = self.rng.uniform(*self.plan.arrival_seconds)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._remote.wait(), timeout=arrival)
                tag = self._remote_tag or self.plan.badge
                self._remote.clear()
                self._remote_tag = None
                if not await self._authorized(tag):
                    continue
                await self._start(tag)
            await self._charge()

    async def _authorized(self, tag: str) -> bool:
        await self._status("Preparing")
        if self.plan.version == "1.6":
            status = (await self._call(call16.Authorize(id_tag=tag))).id_tag_info["status"]
        else:
            status = (await self._call(call201.Authorize(id_token={"idToken": tag, "type": "ISO14443"}))).id_token_info[
                "status"
            ]
        if status != "Accepted":
            await self._status("Available")
            await asyncio.sleep(30)
        return bool(status == "Accepted")

    def _meter(self, amps: float, phases: int, soc: float, context: str = "Sample.Periodic") -> list[dict[str, Any]]:
        watts = amps * VOLTS_PER_PHASE * phases
        if self.plan.version == "1.6":
            values = [
                {
                    "value": f"{self.register_wh:.0f}",
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "Wh",
                    "context": context,
                },
                {"value": f"{watts:.0f}", "measurand": "Power.Active.Import", "unit": "W", "context": context},
                {"value": f"{soc * 100:.0f}", "measurand": "SoC", "unit": "Percent", "context": context},
            ]
            values += [
                {
                    "value": f"{amps if n <= phases else 0:.1f}",
                    "measurand": "Current.Import",
                    "unit": "A",
                    "phase": f"L{n}",
                }
                for n in (1, 2, 3)
            ]
            return [{"timestamp": now_text(), "sampledValue": values}]
        values201 = [
            {
                "value": round(self.register_wh),
                "measurand": "Energy.Active.Import.Register",
                "context": context,
                "unitOfMeasure": {"unit": "Wh"},
            },
            {
                "value": round(watts),
                "measurand": "Power.Active.Import",
                "context": context,
                "unitOfMeasure": {"unit": "W"},
            },
            {"value": round(soc * 100), "measurand": "SoC", "context": context},
        ]
        return [{"timestamp": now_text(), "sampledValue": values201}]

    async def _start(self, tag: str) -> None:
        self.ev = Vehicle.random(self.rng)
        self.leave_after = self.rng.uniform(*self.plan.stay_seconds)
        if self.plan.version == "1.6":
            answer = await self._call(
                call16.StartTransaction(
                    connector_id=1, id_tag=tag, meter_start=int(self.register_wh), timestamp=now_text()
                )
            )
            self._tx = str(answer.transaction_id)
        else:
            self._tx = f"{self.plan.identity}-{self.rng.getrandbits(40):x}"[-36:]
            self._seq = itertools.count()
            await self._call(call201.TransactionEvent(
                event_type="Started", timestamp=now_text(), trigger_reason="Authorized", seq_no=next(self._seq),
                transaction_info={"transactionId": self._tx, "chargingState": "Charging"},
                id_token={"idToken": tag, "type": "ISO14443"}, evse={"id": 1, "connectorId": 1},
                meter_value=self._meter(0, self.ev.phases, self.ev.soc, "Transaction.Begin"),
            ))  # fmt: skip
        await self._status("Charging")
        self.charged_for = 0.0

    async def _charge(self) -> None:
        step = self.plan.meter_seconds
        while self.charged_for < self.leave_after and not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=step)
            offered = min(HARDWARE_MAX_A, self.limit_a if self.limit_a is not None else HARDWARE_MAX_A)
            amps = self.ev.current(offered)
            self.register_wh += self.ev.charge(amps, step)
            self.charged_for += step
            meter = self._meter(amps, self.ev.phases, self.ev.soc)
            if self.plan.version == "1.6":
                await self._call(
                    call16.MeterValues(connector_id=1, transaction_id=int(self._tx or 0), meter_value=meter)
                )
            else:
                await self._call(call201.TransactionEvent(
                    event_type="Updated", timestamp=now_text(), trigger_reason="MeterValuePeriodic", seq_no=next(self._seq),
                    transaction_info={"transactionId": self._tx, "chargingState": "SuspendedEV" if amps == 0 else "Charging"},
                    meter_value=meter,
                ))  # fmt: skip
        remote = self._stop.is_set()
        self._stop.clear()
        if self.plan.version == "1.6":
            await self._call(call16.StopTransaction(
                meter_stop=int(self.register_wh), timestamp=now_text(), transaction_id=int(self._tx or 0),
                reason="Remote" if remote else "EVDisconnected",
            ))  # fmt: skip
        else:
            await self._call(call201.TransactionEvent(
                event_type="Ended", timestamp=now_text(), trigger_reason="RemoteStop" if remote else "EVCommunicationLost",
                seq_no=next(self._seq), meter_value=self._meter(0, self.ev.phases, self.ev.soc, "Transaction.End"),
                transaction_info={"transactionId": self._tx, "stoppedReason": "Remote" if remote else "EVDisconnected"},
            ))  # fmt: skip
        self._tx = None
        self.sessions_done += 1
        await self._status("Available")


async def run_stations(
    plans: list[StationPlan], url: str, stop: asyncio.Event, ssl_context: ssl.SSLContext | None = None
) -> list[VirtualStation]:
    stations = [VirtualStation(plan, url, ssl_context) for plan in plans]
    await asyncio.gather(*(s.run(stop) for s in stations))
    return stations
