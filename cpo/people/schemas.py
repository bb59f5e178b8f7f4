"""Inputs and outputs for people and groups (msgspec)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from cpo.people.models import Group, Person

Email = Annotated[str, Meta(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
PersonKind = Literal["employee", "visitor", "external"]
PersonStatus = Literal["active", "inactive", "blocked"]
GroupKind = Literal["department", "cost_centre", "customer_project"]
Language = Literal["nl", "en"]


class PersonIn(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    kind: PersonKind = "employee"
    email: Email | None = None
    user_name: Annotated[str, Meta(min_length=1, max_length=254)] | None = None
    """Defaults to the e-mail address."""
    language: Language = "nl"
    status: PersonStatus = "active"
    department_id: uuid.UUID | None = None
    cost_centre_id: uuid.UUID | None = None
    group_ids: list[uuid.UUID] = []
    """Customer projects and other groups besides the department and cost centre."""
    external_id: Annotated[str, Meta(max_length=255)] | None = None


class PersonOut(Struct):
    id: uuid.UUID
    kind: str
    user_name: str
    name: str
    email: str | None
    language: str
    status: str
    department_id: uuid.UUID | None
    cost_centre_id: uuid.UUID | None
    group_ids: list[uuid.UUID]
    external_id: str | None
    erased: bool
    created_at: datetime
    updated_at: datetime


class GroupIn(Struct, forbid_unknown_fields=True):
    kind: GroupKind
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    code: Annotated[str, Meta(max_length=50)] | None = None
    external_id: Annotated[str, Meta(max_length=255)] | None = None


class GroupOut(Struct):
    id: uuid.UUID
    kind: str
    name: str
    code: str | None
    external_id: str | None
    created_at: datetime
    updated_at: datetime


def person_out(person: Person, group_ids: list[uuid.UUID]) -> PersonOut:
    return PersonOut(
        person.id, person.kind, person.user_name, person.name, person.email, person.language, person.status,
        person.department_id, person.cost_centre_id, group_ids, person.external_id, person.erased_at is not None,
        person.created_at, person.updated_at,
    )  # fmt: skip


def group_out(group: Group) -> GroupOut:
    return GroupOut(group.id, group.kind, group.name, group.code, group.external_id, group.created_at, group.updated_at)
