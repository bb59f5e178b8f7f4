"""msgspec types built from the official OCPP JSON schemas that ship in the ``ocpp`` package.

Decoding a payload into these types validates it the way the schema says (required fields, types, lengths,
enums, nested objects, array bounds) at msgspec speed, a fraction of a jsonschema validation. Types are
built once per action and version, on first use.
"""

from __future__ import annotations

import json
import keyword
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Version = Literal["1.6", "2.0.1"]
_PACKAGES = {"1.6": "ocpp.v16", "2.0.1": "ocpp.v201"}


class UnknownAction(LookupError):
    """No schema for this action in this version."""


def _schema_file(version: Version, name: str) -> dict[str, Any] | None:
    folder = resources.files(_PACKAGES[version]) / "schemas"
    candidate = folder / f"{name}.json"
    if not candidate.is_file():
        return None
    data: dict[str, Any] = json.loads(candidate.read_text(encoding="utf-8"))
    return data


class _Builder:
    def __init__(self, schema: dict[str, Any], prefix: str) -> None:
        self.definitions: dict[str, Any] = schema.get("definitions", {})
        self.prefix = prefix
        self.built: dict[str, Any] = {}
        self.count = 0

    def type_of(self, node: dict[str, Any], hint: str) -> Any:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in self.built:
                self.built[name] = self.type_of(self.definitions[name], name)
            return self.built[name]
        kind = node.get("type")
        if "enum" in node:
            return Literal[tuple(node["enum"])]
        if kind == "string":
            if node.get("format") == "date-time":
                return datetime
            constraints = {k: node[k] for k in ("maxLength", "minLength") if k in node}
            if constraints:
                return Annotated[
                    str, Meta(max_length=constraints.get("maxLength"), min_length=constraints.get("minLength"))
                ]
            return str
        if kind == "integer":
            return _numeric(int, node)
        if kind == "number":
            return _numeric(float, node)
        if kind == "boolean":
            return bool
        if kind == "array":
            item = self.type_of(node.get("items", {}), hint + "Item")
            bounds = {k: node[k] for k in ("minItems", "maxItems") if k in node}
            if bounds:
                return Annotated[list[item], Meta(min_length=bounds.get("minItems"), max_length=bounds.get("maxItems"))]  # type: ignore[valid-type]
            return list[item]  # type: ignore[valid-type]
        if kind == "object" or "properties" in node:
            return self.struct(node, hint)
        return Any

    def struct(self, node: dict[str, Any], hint: str) -> type[msgspec.Struct]:
        self.count += 1
        required = set(node.get("required", []))
        mandatory: list[Any] = []
        optional: list[Any] = []
        for name, sub in node.get("properties", {}).items():
            kind = self.type_of(sub, hint + name[:1].upper() + name[1:])
            attribute = name + "_" if keyword.iskeyword(name) else name
            if name not in required:
                optional.append((attribute, kind | None, msgspec.field(default=None, name=name)))
            elif attribute != name:
                mandatory.append((attribute, kind, msgspec.field(name=name)))
            else:
                mandatory.append((attribute, kind))
        return msgspec.defstruct(
            f"{self.prefix}{hint}",
            mandatory + optional,
            kw_only=True,
            # additionalProperties false in the schema: an unknown field is a formation error.
            forbid_unknown_fields=node.get("additionalProperties", True) is False,
            omit_defaults=True,
        )


INT32 = (-(2**31), 2**31 - 1)


def _numeric(base: type, node: dict[str, Any]) -> Any:
    raw = {
        "ge": node.get("minimum"),
        "le": node.get("maximum"),
        "multiple_of": node.get("multipleOf") if base is int else None,
    }
    # The schemas write integer bounds as 0.0; msgspec wants the field's own type.
    bounds: dict[str, Any] = {k: base(v) for k, v in raw.items() if v is not None}
    if base is int:
        # OCPP's integers are 32-bit (2.0.1 part 2 §2.1: "integer: 32 bit"; 1.6 stations are C ints too), as
        # are the columns they land in: a connectorId of 10^20 is the station's error, not an internal one.
        bounds["ge"] = max(bounds.get("ge", INT32[0]), INT32[0])
        bounds["le"] = min(bounds.get("le", INT32[1]), INT32[1])
    return Annotated[base, Meta(**bounds)] if bounds else base


def _file_names(version: Version, action: str) -> tuple[str, str]:
    # 1.6 names requests by action ("Heartbeat.json"); 2.0.1 adds "Request" ("HeartbeatRequest.json").
    if version == "1.6":
        return action, f"{action}Response"
    return f"{action}Request", f"{action}Response"


@cache
def _message_type(version: Version, action: str, response: bool) -> type[msgspec.Struct]:
    request_name, response_name = _file_names(version, action)
    schema = _schema_file(version, response_name if response else request_name)
    if schema is None:
        raise UnknownAction(action)
    suffix = "Response" if response else "Request"
    return _Builder(schema, f"V{version.replace('.', '')}").struct(schema, f"{action}{suffix}")


def request_type(version: Version, action: str) -> type[msgspec.Struct]:
    return _message_type(version, action, False)


def response_type(version: Version, action: str) -> type[msgspec.Struct]:
    return _message_type(version, action, True)


def known_action(version: Version, action: str) -> bool:
    try:
        request_type(version, action)
    except UnknownAction:
        return False
    return True
