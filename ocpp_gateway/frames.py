"""OCPP-J framing (OCPP-J 1.6 §4, 2.0.1 part 4 §4): CALL, CALLRESULT, CALLERROR, and the errors of each version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from ocpp_gateway.schemas import Version

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_ID_LENGTH = 36
_ENCODER = msgspec.json.Encoder()
_ID_NEAR_START = re.compile(r'^\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')


class FrameError(Exception):
    """A frame we must answer with a CALLERROR (and keep the connection)."""

    def __init__(self, kind: str, description: str, message_id: str = "-1") -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description
        self.message_id = message_id


# Our error kinds, spelled as each version spells them (1.6 part 4 §4.2.3; 2.0.1 part 4 §4.3).
_CODES: dict[Version, dict[str, str]] = {
    "1.6": {
        "format": "FormationViolation",
        "occurrence": "OccurenceConstraintViolation",  # sic: the 1.6 spelling
        "property": "PropertyConstraintViolation",
        "type": "TypeConstraintViolation",
        "not_implemented": "NotImplemented",
        "not_supported": "NotSupported",
        "internal": "InternalError",
        "protocol": "ProtocolError",
        "security": "SecurityError",
        "message_type": "ProtocolError",
        "generic": "GenericError",
    },
    "2.0.1": {
        "format": "FormatViolation",
        "occurrence": "OccurrenceConstraintViolation",
        "property": "PropertyConstraintViolation",
        "type": "TypeConstraintViolation",
        "not_implemented": "NotImplemented",
        "not_supported": "NotSupported",
        "internal": "InternalError",
        "protocol": "ProtocolError",
        "security": "SecurityError",
        "message_type": "MessageTypeNotSupported",
        "generic": "GenericError",
    },
}


def error_code(version: Version, kind: str) -> str:
    return _CODES[version].get(kind, _CODES[version]["generic"])


def kind_of_validation_error(message: str) -> str:
    """Which OCPP error a msgspec validation message is."""
    if message.startswith("Object missing required field"):
        return "occurrence"
    if message.startswith("Expected `") and "`, got `" in message:
        return "type"
    if message.startswith("Object contains unknown field"):
        return "format"
    return "property"  # lengths, enums, bounds, dates: a value outside what the field allows


@dataclass(frozen=True, slots=True)
class Call:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    message_id: str
    code: str
    description: str
    details: dict[str, Any]


Frame = Call | CallResult | CallError


def guess_message_id(raw: str | bytes) -> str:
    """The id of a CALL we cannot parse, if it can be read at all; OCPP says "-1" otherwise."""
    head = raw[:80] if isinstance(raw, str) else raw[:80].decode("utf-8", "replace")
    match = _ID_NEAR_START.match(head)
    return match.group(1) if match else "-1"


def parse_frame(raw: str | bytes) -> Frame:
    try:
        frame = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise FrameError("format", "not valid JSON", guess_message_id(raw)) from None
    if not isinstance(frame, list) or len(frame) < 3 or not isinstance(frame[0], int):
        raise FrameError("format", "a frame is a JSON array [MessageTypeId, MessageId, ...]", guess_message_id(raw))
    kind, message_id = frame[0], frame[1]
    if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_ID_LENGTH:
        raise FrameError("format", "the MessageId must be a string of 1 to 36 characters")
    if kind == CALL:
        if len(frame) != 4 or not isinstance(frame[2], str):
            raise FrameError("format", "a CALL is [2, MessageId, Action, Payload]", message_id)
        if not isinstance(frame[3], dict):
            raise FrameError("format", "the payload of a CALL is a JSON object", message_id)
        return Call(message_id, frame[2], frame[3])
    if kind == CALLRESULT:
        payload = frame[2]
        return CallResult(message_id, payload if isinstance(payload, dict) else {})
    if kind == CALLERROR:
        code = frame[2] if isinstance(frame[2], str) else "GenericError"
        description = frame[3] if len(frame) > 3 and isinstance(frame[3], str) else ""
        details = frame[4] if len(frame) > 4 and isinstance(frame[4], dict) else {}
        return CallError(message_id, code, description, details)
    raise FrameError("message_type", f"unknown MessageTypeId {kind}", message_id)


def encode_call(message_id: str, action: str, payload: Any) -> str:
    return _ENCODER.encode([CALL, message_id, action, payload]).decode()


def encode_result(message_id: str, payload: Any) -> str:
    return _ENCODER.encode([CALLRESULT, message_id, payload]).decode()


def encode_error(message_id: str, code: str, description: str, details: dict[str, Any] | None = None) -> str:
    return _ENCODER.encode([CALLERROR, message_id, code, description[:255], details or {}]).decode()
