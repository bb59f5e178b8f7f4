"""OCPP-J framing (OCPP-J 1.6 §4, 2.0.1 part 4 §4): CALL, CALLRESULT, CALLERROR, and the errors of each version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from cpo.json_depth import MAX_DEPTH, nested_too_deep
from ocpp_gateway.schemas import Version

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_ID_LENGTH = 36
_ENCODER = msgspec.json.Encoder()
_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
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
    payload: msgspec.Raw
    """Still JSON: decoded straight into the action's type, never into dicts first."""


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


def _element(raw: msgspec.Raw, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.DecodeError:
        return None


def parse_frame(raw: str | bytes) -> Frame:
    # Checked before decoding: msgspec would recurse into ``[`` x 5000 until a RecursionError, which is no
    # FrameError and would end the connection. Nothing in OCPP nests anywhere near this deep.
    if nested_too_deep(raw):
        raise FrameError("format", f"nested more than {MAX_DEPTH} deep", guess_message_id(raw))
    try:
        parts = _ARRAY.decode(raw)
    except msgspec.DecodeError:
        raise FrameError("format", "not valid JSON, or not a JSON array", guess_message_id(raw)) from None
    if len(parts) < 3:
        raise FrameError("format", "a frame is a JSON array [MessageTypeId, MessageId, ...]", guess_message_id(raw))
    kind, message_id = _element(parts[0], int), _element(parts[1], str)
    if kind is None:
        raise FrameError("format", "the MessageTypeId must be an integer", guess_message_id(raw))
    if message_id is None or not 0 < len(message_id) <= MAX_ID_LENGTH:
        raise FrameError("format", "the MessageId must be a string of 1 to 36 characters")
    if kind == CALL:
        action = _element(parts[2], str)
        if len(parts) != 4 or action is None:
            raise FrameError("format", "a CALL is [2, MessageId, Action, Payload]", message_id)
        if bytes(parts[3]).lstrip()[:1] != b"{":
            raise FrameError("format", "the payload of a CALL is a JSON object", message_id)
        return Call(message_id, action, parts[3])
    if kind == CALLRESULT:
        payload = _element(parts[2], dict[str, Any])
        return CallResult(message_id, payload if isinstance(payload, dict) else {})
    if kind == CALLERROR:
        code = _element(parts[2], str) or "GenericError"
        description = (_element(parts[3], str) if len(parts) > 3 else None) or ""
        details = (_element(parts[4], dict[str, Any]) if len(parts) > 4 else None) or {}
        return CallError(message_id, code, description, details)
    raise FrameError("message_type", f"unknown MessageTypeId {kind}", message_id)


def encode_call(message_id: str, action: str, payload: Any) -> str:
    return _ENCODER.encode([CALL, message_id, action, payload]).decode()


def encode_result(message_id: str, payload: Any) -> str:
    return _ENCODER.encode([CALLRESULT, message_id, payload]).decode()


def encode_error(message_id: str, code: str, description: str, details: dict[str, Any] | None = None) -> str:
    return _ENCODER.encode([CALLERROR, message_id, code, description[:255], details or {}]).decode()
