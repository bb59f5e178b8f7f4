"""SCIM 2.0 (RFC 7643 resources, RFC 7644 protocol) for people and groups: HR systems provision employees.

Pure translation between SCIM JSON and our people and groups, plus the few filters and PATCH paths
identity providers send. Errors are ``ScimError`` with the RFC's ``scimType``; the transport renders them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
KINDS = {"employee": "Employee", "visitor": "Visitor", "external": "External"}
_FILTER = re.compile(r'^\s*(?P<attr>[A-Za-z.:0-9]+)\s+eq\s+"(?P<value>(?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
_MEMBER_PATH = re.compile(r'^members\[value eq "(?P<id>[^"]+)"\]$', re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Every text is bounded before a regex reads it (the e-mail pattern backtracks quadratically: 30 kB took
# seconds and froze the event loop) and before the database sees it: the lengths are the columns' own.
MAX_USER_NAME = 254
MAX_EMAIL = 254
MAX_NAME = 200
MAX_EXTERNAL_ID = 255
MAX_LANGUAGE = 64  # BCP 47 tags ("nl-BE"); only the first two letters are kept
MAX_FILTER = 600  # an attribute, "eq" and a quoted value as long as the longest column
MAX_PATH = 300


class ScimError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [ERROR], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


def invalid(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)


@dataclass
class UserFields:
    """What a SCIM User sets on a person; None: not given (a PUT still clears what it leaves out)."""

    user_name: str
    name: str
    email: str | None = None
    active: bool = True
    external_id: str | None = None
    language: str | None = None
    kind: str = "employee"
    department: str | None = None
    cost_centre: str | None = None


@dataclass
class GroupFields:
    display_name: str
    external_id: str | None = None
    member_ids: list[uuid.UUID] | None = None


@dataclass
class UserView:
    id: uuid.UUID
    user_name: str
    name: str
    email: str | None
    active: bool
    external_id: str | None
    language: str
    kind: str
    department: str | None
    cost_centre: str | None
    groups: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    created: datetime | None = None
    modified: datetime | None = None


def _text(value: Any, attribute: str, required: bool = False, max_length: int = MAX_NAME) -> str | None:
    if value is None:
        if required:
            raise invalid(f"{attribute} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"{attribute} must be a non-empty string")
    text = value.strip()
    if len(text) > max_length:
        raise invalid(f"{attribute} is longer than {max_length} characters")
    if "\x00" in text:  # PostgreSQL text cannot hold NUL
        raise invalid(f"{attribute} contains a NUL character")
    return text


def _name(text: str, attribute: str) -> str:
    if len(text) > MAX_NAME:
        raise invalid(f"{attribute} is longer than {MAX_NAME} characters")
    return text


def _name_of(data: dict[str, Any]) -> str | None:
    name = data.get("name")
    if name is not None and not isinstance(name, dict):
        raise invalid("name must be an object")
    if isinstance(name, dict):
        formatted = _text(name.get("formatted"), "name.formatted")
        given = _text(name.get("givenName"), "name.givenName") or ""
        family = _text(name.get("familyName"), "name.familyName") or ""
        if formatted or given or family:
            return formatted or _name(f"{given} {family}".strip(), "name")
    return _text(data.get("displayName"), "displayName")


def _primary_email(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise invalid("emails must be a list of objects with a value")
    chosen = next((e for e in value if e.get("primary")), value[0] if value else None)
    if chosen is None:
        return None
    email = _text(chosen.get("value"), "emails.value", required=True, max_length=MAX_EMAIL)
    assert email is not None
    if not _EMAIL.match(email):
        raise invalid(f"{email!r} is not an e-mail address")
    return email.lower()


def _active(value: Any) -> bool:
    # Some identity providers send booleans as strings.
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise invalid("active must be true or false")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "employee"
    text = _text(value, "userType") or ""
    for kind, label in KINDS.items():
        if text.lower() in (kind, label.lower()):
            return kind
    raise invalid(f"userType must be one of {', '.join(KINDS.values())}")


def user_fields(data: Any) -> UserFields:
    """A whole User (POST, PUT)."""
    if not isinstance(data, dict):
        raise invalid("the body must be a SCIM User object", "invalidSyntax")
    schemas = data.get("schemas")
    if not isinstance(schemas, list) or USER not in schemas:
        raise invalid(f"schemas must include {USER}", "invalidSyntax")
    user_name = _text(data.get("userName"), "userName", required=True, max_length=MAX_USER_NAME)
    assert user_name is not None
    email = _primary_email(data.get("emails"))
    enterprise = data.get(ENTERPRISE) or {}
    if not isinstance(enterprise, dict):
        raise invalid(f"{ENTERPRISE} must be an object")
    language = _text(data.get("preferredLanguage"), "preferredLanguage", max_length=MAX_LANGUAGE)
    return UserFields(
        user_name=user_name,
        name=_name_of(data) or user_name,
        email=email or (user_name.lower() if _EMAIL.match(user_name) else None),
        active=_active(data.get("active", True)),
        external_id=_text(data.get("externalId"), "externalId", max_length=MAX_EXTERNAL_ID),
        language=language[:2].lower() if language else None,
        kind=_kind(data.get("userType")),
        department=_text(enterprise.get("department"), "department"),
        cost_centre=_text(enterprise.get("costCenter"), "costCenter"),
    )


def apply_user_patch(current: UserFields, operations: Any) -> UserFields:
    """RFC 7644 §3.5.2 PATCH on a User, for the paths identity providers use."""
    for op, path, value in _operations(operations):
        if path is None:
            if op == "remove" or not isinstance(value, dict):
                raise invalid("an operation without a path needs an object value", "noTarget")
            for key, item in value.items():
                current = _set_user(current, key, item, op)
        else:
            current = _set_user(current, path, None if op == "remove" else value, op)
    return current


def _set_user(current: UserFields, path: str, value: Any, op: str) -> UserFields:
    key = path.lower()
    if key.startswith(ENTERPRISE.lower() + ":"):
        key = "enterprise." + key[len(ENTERPRISE) + 1 :]
    elif key == ENTERPRISE.lower():
        if not isinstance(value, dict):
            raise invalid(f"{ENTERPRISE} must be an object")
        for sub, item in value.items():
            current = _set_user(current, f"enterprise.{sub}", item, op)
        return current
    if key == "active":
        current.active = _active(value)
    elif key == "username":
        current.user_name = _text(value, "userName", required=True, max_length=MAX_USER_NAME) or current.user_name
    elif key in ("displayname", "name.formatted"):
        current.name = _text(value, path) or current.name
    elif key == "name":
        current.name = _name_of({"name": value}) or current.name
    elif key in ("name.givenname", "name.familyname"):
        parts = [*current.name.split(" ", 1), ""]
        part = _text(value, path) or ""
        given, family = (part, parts[1]) if key.endswith("givenname") else (parts[0], part)
        current.name = _name(f"{given} {family}".strip(), "name") or current.name
    elif key == "emails" or key.startswith("emails["):
        if key == "emails":
            current.email = _primary_email(value)
        else:  # emails[type eq "work"].value
            current.email = _primary_email([{"value": value}]) if value else None
    elif key == "externalid":
        current.external_id = _text(value, "externalId", max_length=MAX_EXTERNAL_ID)
    elif key == "preferredlanguage":
        language = _text(value, "preferredLanguage", max_length=MAX_LANGUAGE)
        current.language = language[:2].lower() if language else None
    elif key == "usertype":
        current.kind = _kind(value)
    elif key == "enterprise.department":
        current.department = _text(value, "department")
    elif key == "enterprise.costcenter":
        current.cost_centre = _text(value, "costCenter")
    elif key in ("schemas", "id", "meta"):
        pass  # read-only: ignored, as RFC 7644 §3.5.2 allows for attributes the client may not change
    else:
        raise invalid(f"attribute {path!r} cannot be changed here", "noTarget")
    return current


def group_fields(data: Any) -> GroupFields:
    if not isinstance(data, dict):
        raise invalid("the body must be a SCIM Group object", "invalidSyntax")
    schemas = data.get("schemas")
    if not isinstance(schemas, list) or GROUP not in schemas:
        raise invalid(f"schemas must include {GROUP}", "invalidSyntax")
    name = _text(data.get("displayName"), "displayName", required=True)
    assert name is not None
    members = data.get("members")
    return GroupFields(name, _text(data.get("externalId"), "externalId", max_length=MAX_EXTERNAL_ID),
                       _member_ids(members) if members is not None else None)  # fmt: skip


def _member_ids(members: Any) -> list[uuid.UUID]:
    if not isinstance(members, list):
        raise invalid("members must be a list of objects with a value")
    ids = []
    for member in members:
        try:
            ids.append(uuid.UUID(str(member["value"])))
        except (KeyError, TypeError, ValueError):
            raise invalid("each member needs the id of a User as its value") from None
    return ids


@dataclass
class GroupChange:
    display_name: str | None = None
    add: list[uuid.UUID] = field(default_factory=list)
    remove: list[uuid.UUID] = field(default_factory=list)
    replace_members: list[uuid.UUID] | None = None


def group_patch(operations: Any) -> GroupChange:
    change = GroupChange()
    for op, path, value in _operations(operations):
        key = (path or "").lower()
        if path is None and isinstance(value, dict):
            if "displayName" in value:
                change.display_name = _text(value["displayName"], "displayName", required=True)
            if "members" in value:
                change.add += _member_ids(value["members"])
        elif key == "displayname":
            change.display_name = _text(value, "displayName", required=True)
        elif key == "members":
            if op == "add":
                change.add += _member_ids(value)
            elif op == "replace":
                change.replace_members = _member_ids(value)
            else:
                change.remove += _member_ids(value) if value is not None else []
                if value is None:
                    change.replace_members = []
        elif (match := _MEMBER_PATH.match(path or "")) and op == "remove":
            try:
                change.remove.append(uuid.UUID(match["id"]))
            except ValueError:
                raise invalid("members[value eq ...] needs a User id") from None
        elif key == "externalid":
            pass
        else:
            raise invalid(f"cannot {op} {path!r} on a Group", "noTarget")
    return change


def _operations(body: Any) -> list[tuple[str, str | None, Any]]:
    if not isinstance(body, dict) or PATCH_OP not in (body.get("schemas") or []):
        raise invalid(f"a PATCH body is a {PATCH_OP} message", "invalidSyntax")
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise invalid("Operations must be a non-empty list", "invalidSyntax")
    out = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise invalid("each operation is an object", "invalidSyntax")
        op = str(operation.get("op", "")).lower()
        if op not in ("add", "replace", "remove"):
            raise invalid(f"op must be add, replace or remove, not {operation.get('op')!r}", "invalidSyntax")
        path = operation.get("path")
        if path is not None and (not isinstance(path, str) or len(path) > MAX_PATH):
            raise invalid(f"path must be a string of at most {MAX_PATH} characters", "invalidPath")
        out.append((op, path, operation.get("value")))
    return out


def parse_filter(text: str | None, allowed: dict[str, str]) -> tuple[str, str] | None:
    """``attribute eq "value"`` (RFC 7644 §3.4.2.2): the one filter form identity providers rely on."""
    if not text:
        return None
    if len(text) > MAX_FILTER:
        raise ScimError(400, f"a filter has at most {MAX_FILTER} characters", "invalidFilter")
    match = _FILTER.match(text)
    if match is None:
        raise ScimError(400, 'only filters of the form attribute eq "value" are supported', "invalidFilter")
    attribute = allowed.get(match["attr"].lower())
    if attribute is None:
        raise ScimError(400, f"cannot filter on {match['attr']}", "invalidFilter")
    value = match["value"].replace('\\"', '"')
    if "\x00" in value:
        raise ScimError(400, "a filter value cannot contain a NUL character", "invalidFilter")
    return attribute, value


def user_resource(user: UserView, base_url: str) -> dict[str, Any]:
    given, _, family = user.name.partition(" ")
    resource: dict[str, Any] = {
        "schemas": [USER, ENTERPRISE],
        "id": str(user.id),
        "userName": user.user_name,
        "name": {"formatted": user.name, "givenName": given, "familyName": family},
        "displayName": user.name,
        "active": user.active,
        "userType": KINDS.get(user.kind, "Employee"),
        "preferredLanguage": user.language,
        "emails": [{"value": user.email, "type": "work", "primary": True}] if user.email else [],
        "groups": [{"value": str(g), "display": name} for g, name in user.groups],
        ENTERPRISE: {k: v for k, v in (("department", user.department), ("costCenter", user.cost_centre)) if v},
        "meta": _meta("User", f"{base_url}/Users/{user.id}", user.created, user.modified),
    }
    if user.external_id:
        resource["externalId"] = user.external_id
    return resource


def group_resource(
    group_id: uuid.UUID, name: str, external_id: str | None, members: list[tuple[uuid.UUID, str]],
    created: datetime | None, modified: datetime | None, base_url: str,
) -> dict[str, Any]:  # fmt: skip
    resource: dict[str, Any] = {
        "schemas": [GROUP],
        "id": str(group_id),
        "displayName": name,
        "members": [{"value": str(p), "display": n, "$ref": f"{base_url}/Users/{p}"} for p, n in members],
        "meta": _meta("Group", f"{base_url}/Groups/{group_id}", created, modified),
    }
    if external_id:
        resource["externalId"] = external_id
    return resource


def _meta(kind: str, location: str, created: datetime | None, modified: datetime | None) -> dict[str, Any]:
    def stamp(moment: datetime | None) -> str | None:
        return moment.isoformat().replace("+00:00", "Z") if moment else None

    return {"resourceType": kind, "location": location, "created": stamp(created), "lastModified": stamp(modified),
            "version": f'W/"{int(modified.timestamp() * 1000)}"' if modified else None}  # fmt: skip


def list_response(resources: list[dict[str, Any]], total: int, start: int) -> dict[str, Any]:
    return {"schemas": [LIST], "totalResults": total, "startIndex": start, "itemsPerPage": len(resources),
            "Resources": resources}  # fmt: skip
