"""Version-neutral commands into OCPP 1.6 and 2.0.1 actions and payloads."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import msgspec

from cpo.charging.commands import ChargingLimit, Command
from cpo.errors import InvalidInput
from ocpp_gateway.schemas import UnknownAction, Version, request_type

_PURPOSE = {
    "1.6": {"ChargePointMax": "ChargePointMaxProfile", "TxDefault": "TxDefaultProfile", "Tx": "TxProfile"},
    "2.0.1": {"ChargePointMax": "ChargingStationMaxProfile", "TxDefault": "TxDefaultProfile", "Tx": "TxProfile"},
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _limit(arguments: dict[str, Any]) -> ChargingLimit:
    raw = arguments.get("limit")
    if isinstance(raw, ChargingLimit):
        return raw
    try:
        return msgspec.convert(raw, ChargingLimit)
    except msgspec.ValidationError as error:
        raise InvalidInput("arguments.limit", str(error)) from None


def _periods(limit: ChargingLimit) -> list[dict[str, Any]]:
    periods = []
    for start, value in limit.periods:
        period: dict[str, Any] = {"startPeriod": int(start), "limit": round(float(value), 1)}
        if limit.number_phases:
            period["numberPhases"] = limit.number_phases
        periods.append(period)
    return periods


def _profile_16(limit: ChargingLimit) -> dict[str, Any]:
    schedule: dict[str, Any] = {"chargingRateUnit": limit.unit, "chargingSchedulePeriod": _periods(limit)}
    if limit.duration_seconds:
        schedule["duration"] = limit.duration_seconds
    profile: dict[str, Any] = {
        "chargingProfileId": limit.profile_id,
        "stackLevel": limit.stack_level,
        "chargingProfilePurpose": _PURPOSE["1.6"][limit.purpose],
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {**schedule, "startSchedule": _now()},
    }
    if limit.transaction_id is not None:
        profile["transactionId"] = int(limit.transaction_id)
    return profile


def _profile_201(limit: ChargingLimit) -> dict[str, Any]:
    # K01.FR.41: an Absolute profile needs startSchedule.
    schedule: dict[str, Any] = {
        "id": limit.profile_id,
        "startSchedule": _now(),
        "chargingRateUnit": limit.unit,
        "chargingSchedulePeriod": _periods(limit),
    }
    if limit.duration_seconds:
        schedule["duration"] = limit.duration_seconds
    profile: dict[str, Any] = {
        "id": limit.profile_id,
        "stackLevel": limit.stack_level,
        "chargingProfilePurpose": _PURPOSE["2.0.1"][limit.purpose],
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [schedule],
    }
    if limit.transaction_id is not None:
        profile["transactionId"] = limit.transaction_id
    return profile


def _drop_none(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if v is not None}


def _v16(command: Command) -> tuple[str, dict[str, Any]]:
    a = command.arguments
    connector = a.get("connector") or a.get("evse")
    match command.name:
        case "remote_start":
            payload = _drop_none({"idTag": a.get("id_tag"), "connectorId": connector})
            if a.get("limit") is not None:
                payload["chargingProfile"] = _profile_16(_limit(a))
            return "RemoteStartTransaction", payload
        case "remote_stop":
            return "RemoteStopTransaction", {"transactionId": _integer(a.get("transaction_id"), "transaction_id")}
        case "unlock_connector":
            return "UnlockConnector", {"connectorId": connector}
        case "reset":
            return "Reset", {"type": "Hard" if a.get("hard") else "Soft"}
        case "change_availability":
            kind = "Operative" if a.get("operative", True) else "Inoperative"
            return "ChangeAvailability", {"connectorId": connector or 0, "type": kind}
        case "get_configuration":
            return "GetConfiguration", _drop_none({"key": a.get("keys")})
        case "change_configuration":
            return "ChangeConfiguration", {"key": a.get("key"), "value": a.get("value")}
        case "trigger_message":
            return "TriggerMessage", _drop_none({"requestedMessage": a.get("message"), "connectorId": connector})
        case "set_charging_profile":
            return "SetChargingProfile", {"connectorId": connector or 0, "csChargingProfiles": _profile_16(_limit(a))}
        case "clear_charging_profile":
            return "ClearChargingProfile", _drop_none({"id": a.get("profile_id"), "connectorId": connector})
        case "get_composite_schedule":
            return "GetCompositeSchedule", _drop_none(
                {"connectorId": connector or 0, "duration": a.get("duration", 3600), "chargingRateUnit": a.get("unit")}
            )
        case "send_local_list":
            entries = [_list_entry_16(e) for e in a.get("entries", [])]
            return "SendLocalList", {
                "listVersion": a.get("version"), "updateType": a.get("update_type", "Full"),
                "localAuthorizationList": entries,
            }  # fmt: skip
        case "get_local_list_version":
            return "GetLocalListVersion", {}
        case "update_firmware":
            return "UpdateFirmware", {"location": a.get("location"), "retrieveDate": a.get("retrieve_at") or _now()}
        case "get_diagnostics":
            return "GetDiagnostics", {"location": a.get("location")}
        case "raw":
            return str(a.get("action")), dict(a.get("payload") or {})
    raise InvalidInput("name", f"unknown command {command.name}")


def _list_entry_16(entry: dict[str, Any]) -> dict[str, Any]:
    """OCPP 1.6 §7.2 AuthorizationData; without idTagInfo a differential update removes the entry."""
    if entry.get("remove"):
        return {"idTag": entry["id_tag"]}
    info = _drop_none({"status": entry.get("status", "Accepted"), "expiryDate": entry.get("expires_at"),
                       "parentIdTag": entry.get("group")})  # fmt: skip
    return {"idTag": entry["id_tag"], "idTagInfo": info}


def _list_entry_201(entry: dict[str, Any]) -> dict[str, Any]:
    token = {"idToken": entry["id_tag"], "type": entry.get("type") or "ISO14443"}
    if entry.get("remove"):
        return {"idToken": token}
    group = {"idToken": entry["group"], "type": "Central"} if entry.get("group") else None
    info = _drop_none({"status": entry.get("status", "Accepted"), "cacheExpiryDateTime": entry.get("expires_at"),
                       "groupIdToken": group})  # fmt: skip
    return {"idToken": token, "idTokenInfo": info}


def _integer(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"arguments.{field}", "OCPP 1.6 needs an integer here") from None


def _v201(command: Command) -> tuple[str, dict[str, Any]]:
    a = command.arguments
    evse, connector = a.get("evse"), a.get("connector")
    match command.name:
        case "remote_start":
            payload: dict[str, Any] = _drop_none({
                "idToken": {"idToken": a.get("id_tag"), "type": a.get("id_token_type", "ISO14443")},
                "remoteStartId": a.get("remote_start_id") or random.randint(1, 2**31 - 1),
                "evseId": evse,
            })  # fmt: skip
            if a.get("limit") is not None:
                payload["chargingProfile"] = _profile_201(_limit(a))
            return "RequestStartTransaction", payload
        case "remote_stop":
            return "RequestStopTransaction", {"transactionId": str(a.get("transaction_id"))}
        case "unlock_connector":
            return "UnlockConnector", {"evseId": evse or 1, "connectorId": connector or 1}
        case "reset":
            return "Reset", _drop_none({"type": "Immediate" if a.get("hard") else "OnIdle", "evseId": evse})
        case "change_availability":
            status = "Operative" if a.get("operative", True) else "Inoperative"
            target = _drop_none({"id": evse, "connectorId": connector}) if evse else None
            return "ChangeAvailability", _drop_none({"operationalStatus": status, "evse": target})
        case "get_configuration":
            data = [_component_variable(key) for key in a.get("keys") or []]
            if not data:
                raise InvalidInput("arguments.keys", "OCPP 2.0.1 GetVariables needs keys as 'Component.Variable'")
            return "GetVariables", {"getVariableData": data}
        case "change_configuration":
            item = _component_variable(str(a.get("key")))
            return "SetVariables", {"setVariableData": [{**item, "attributeValue": str(a.get("value"))}]}
        case "trigger_message":
            target = _drop_none({"id": evse, "connectorId": connector}) if evse else None
            return "TriggerMessage", _drop_none({"requestedMessage": a.get("message"), "evse": target})
        case "set_charging_profile":
            return "SetChargingProfile", {"evseId": evse or 0, "chargingProfile": _profile_201(_limit(a))}
        case "clear_charging_profile":
            return "ClearChargingProfile", _drop_none({"chargingProfileId": a.get("profile_id")})
        case "get_composite_schedule":
            return "GetCompositeSchedule", _drop_none(
                {"evseId": evse or 0, "duration": a.get("duration", 3600), "chargingRateUnit": a.get("unit")}
            )
        case "send_local_list":
            entries = [_list_entry_201(e) for e in a.get("entries", [])]
            return "SendLocalList", {
                "versionNumber": a.get("version"), "updateType": a.get("update_type", "Full"),
                "localAuthorizationList": entries,
            }  # fmt: skip
        case "get_local_list_version":
            return "GetLocalListVersion", {}
        case "update_firmware":
            firmware = {"location": a.get("location"), "retrieveDateTime": a.get("retrieve_at") or _now()}
            return "UpdateFirmware", {"requestId": random.randint(1, 2**31 - 1), "firmware": firmware}
        case "get_diagnostics":
            log = {"remoteLocation": a.get("location")}
            return "GetLog", {"logType": "DiagnosticsLog", "requestId": random.randint(1, 2**31 - 1), "log": log}
        case "raw":
            return str(a.get("action")), dict(a.get("payload") or {})
    raise InvalidInput("name", f"unknown command {command.name}")


def _component_variable(key: str) -> dict[str, Any]:
    component, _, variable = key.partition(".")
    if not component or not variable:
        raise InvalidInput("arguments.key", f"{key!r}: OCPP 2.0.1 names a setting as 'Component.Variable'")
    return {"component": {"name": component}, "variable": {"name": variable}}


def translate(version: Version, command: Command) -> tuple[str, dict[str, Any]]:
    """The action and payload for this version, checked against the official schema before it leaves."""
    action, payload = _v16(command) if version == "1.6" else _v201(command)
    try:
        msgspec.convert(payload, request_type(version, action))
    except UnknownAction:
        raise InvalidInput("name", f"OCPP {version} has no action {action}") from None
    except msgspec.ValidationError as error:
        raise InvalidInput("arguments", f"{action}: {error}") from None
    return action, payload
