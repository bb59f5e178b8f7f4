"""Inputs and outputs for badges and access rules (msgspec)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from msgspec import Meta, Struct

from cpo.access.models import AccessRule, Badge

TokenType = Literal["ISO14443", "ISO15693", "eMAID", "Central", "KeyCode", "MacAddress", "Local"]


class BadgeIn(Struct, forbid_unknown_fields=True):
    uid: Annotated[str, Meta(min_length=1, max_length=36)]
    token_type: TokenType = "ISO14443"  # noqa: S105 - a token type, not a password
    status: Literal["active", "blocked", "expired"] = "active"
    person_id: uuid.UUID | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    group_uid: Annotated[str, Meta(min_length=1, max_length=36)] | None = None
    label: Annotated[str, Meta(max_length=100)] | None = None


class BadgeOut(Struct):
    id: uuid.UUID
    uid: str
    token_type: str
    status: str
    person_id: uuid.UUID | None
    valid_from: datetime | None
    valid_to: datetime | None
    group_uid: str | None
    label: str | None
    created_at: datetime
    updated_at: datetime


class BlockIn(Struct, forbid_unknown_fields=True):
    stop_sessions: bool = False
    """Also stop the running sessions at once (RemoteStop), not only refuse the next start."""


class RuleIn(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    person_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    site_ids: list[uuid.UUID] | None = None
    evse_ids: list[uuid.UUID] | None = None
    windows: list[Annotated[str, Meta(max_length=40)]] = []
    """Weekly hours in the site's time zone, e.g. ``mon-fri 07:00-19:00`` or ``fri 22:00-06:00``."""
    valid_from: date | None = None
    valid_until: date | None = None
    monthly_kwh_quota: Decimal | None = None


class RuleOut(Struct):
    id: uuid.UUID
    name: str
    person_id: uuid.UUID | None
    group_id: uuid.UUID | None
    site_ids: list[uuid.UUID] | None
    evse_ids: list[uuid.UUID] | None
    windows: list[str]
    valid_from: date | None
    valid_until: date | None
    monthly_kwh_quota: Decimal | None


def badge_out(badge: Badge) -> BadgeOut:
    return BadgeOut(
        badge.id, badge.uid, badge.token_type, badge.status, badge.person_id, badge.valid_from, badge.valid_to,
        badge.group_uid, badge.label, badge.created_at, badge.updated_at,
    )  # fmt: skip


def rule_out(rule: AccessRule) -> RuleOut:
    return RuleOut(
        rule.id, rule.name, rule.person_id, rule.group_id, rule.site_ids, rule.evse_ids, list(rule.windows),
        rule.valid_from, rule.valid_until, rule.monthly_kwh_quota,
    )  # fmt: skip
