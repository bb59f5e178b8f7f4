"""Inputs and outputs of tokens and tenants (msgspec)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from cpo.accounts.models import ApiToken
from cpo.accounts.roles import Role
from cpo.tenants.models import Tenant


class TokenIn(Struct, forbid_unknown_fields=True):
    role: Role
    name: Annotated[str, Meta(min_length=1, max_length=100)] = "api"
    expires_at: datetime | None = None
    site_ids: list[uuid.UUID] | None = None
    """The sites of a site manager's token."""


class TokenOut(Struct):
    id: uuid.UUID
    name: str
    role: str
    site_ids: list[uuid.UUID] | None
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str
    """Shown once: only its hash is stored."""


class TenantIn(Struct, forbid_unknown_fields=True):
    slug: Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    country_code: Annotated[str, Meta(pattern=r"^[A-Z]{2}$")] | None = None
    party_id: Annotated[str, Meta(pattern=r"^[A-Z0-9]{3}$")] | None = None


class TenantOut(Struct):
    id: uuid.UUID
    slug: str
    name: str
    country_code: str | None
    party_id: str | None
    created_at: datetime
    auto_register_stations: bool = False
    one_session_per_badge: bool = False
    meter_sample_retention_days: int | None = None
    event_retention_days: int | None = None
    operator_details: str | None = None
    payment_hold_minor: int | None = None
    enrolment_secret_set: bool = False
    """Unknown stations presenting the tenant's enrolment secret register as Pending (when switched on)."""
    station_identity_prefix: str | None = None
    """Granted by a platform administrator: station identities starting with it are this tenant's alone."""


class EnrolmentSecretOut(Struct):
    enrolment_secret: str
    """Shown once: stations register with it as their Basic-auth password (user: their identity)."""
    auto_register_stations: bool


class IdentityPrefixIn(Struct, forbid_unknown_fields=True):
    prefix: str | None


class TenantSettingsIn(Struct, forbid_unknown_fields=True):
    """Only the fields given change."""

    auto_register_stations: bool | None = None
    one_session_per_badge: bool | None = None
    meter_sample_retention_days: Annotated[int, Meta(ge=1, le=36500)] | None = None
    event_retention_days: Annotated[int, Meta(ge=1, le=36500)] | None = None
    operator_details: Annotated[str, Meta(min_length=1, max_length=500)] | None = None
    """Printed on drivers' receipts: legal name, address, VAT number, contact."""
    payment_hold_minor: Annotated[int, Meta(ge=100, le=100_000)] | None = None
    """What a card payment at the charger holds, in minor units (cents): 1.00 to 1,000.00."""


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        role=token.role,
        site_ids=token.site_ids,
        prefix=token.prefix,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )


def tenant_out(tenant: Tenant) -> TenantOut:
    return TenantOut(
        id=tenant.id,
        slug=tenant.slug,
        name=tenant.name,
        country_code=tenant.country_code,
        party_id=tenant.party_id,
        auto_register_stations=tenant.auto_register_stations,
        one_session_per_badge=tenant.one_session_per_badge,
        meter_sample_retention_days=tenant.meter_sample_retention_days,
        event_retention_days=tenant.event_retention_days,
        created_at=tenant.created_at,
        operator_details=tenant.operator_details,
        payment_hold_minor=tenant.payment_hold_minor,
        enrolment_secret_set=tenant.enrolment_secret_hash is not None,
        station_identity_prefix=tenant.station_identity_prefix,
    )
