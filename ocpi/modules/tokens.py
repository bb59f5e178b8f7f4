"""Tokens, receiver interface: partners push their drivers' tokens; our stations honour them by whitelist."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, patch, put
from litestar.di import Provide
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.roaming.models import RoamingPartner, RoamingToken
from ocpi.auth import Caller, provide_registered_caller
from ocpi.envelope import INVALID_PARAMETERS, UNKNOWN_TOKEN, OcpiError, answer

TokenType = Literal["AD_HOC_USER", "APP_USER", "OTHER", "RFID"]
Whitelist = Literal["ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"]


CountryCode = Annotated[str, msgspec.Meta(min_length=2, max_length=2)]
PartyId = Annotated[str, msgspec.Meta(min_length=3, max_length=3)]
Id36 = Annotated[str, msgspec.Meta(min_length=1, max_length=36)]
Text36 = Annotated[str, msgspec.Meta(max_length=36)]
Text64 = Annotated[str, msgspec.Meta(max_length=64)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


# Field sizes from OCPI 2.2.1 mod_tokens (CiString(36) uid, CiString(2) country code, ...): longer values are
# refused as 2001 here rather than failing in the database.
class EnergyContract(msgspec.Struct):
    supplier_name: Text64
    contract_id: Text64 | None = None


class Token(msgspec.Struct, omit_defaults=True):
    country_code: CountryCode
    party_id: PartyId
    uid: Id36
    type: TokenType
    contract_id: Id36
    issuer: Text64
    valid: bool
    whitelist: Whitelist
    last_updated: datetime
    visual_number: Text64 | None = None
    group_id: Text36 | None = None
    language: Annotated[str, msgspec.Meta(max_length=2)] | None = None
    default_profile_type: Literal["CHEAP", "FAST", "GREEN", "REGULAR"] | None = None
    energy_contract: EnergyContract | None = None


def check_party(caller: Caller, country_code: str, party_id: str) -> None:
    """Only the parties fixed for the partner: the roles it declares in its credentials do not count."""
    if not caller.acts_for(country_code, party_id):
        raise OcpiError(INVALID_PARAMETERS, f"{country_code}/{party_id} is not a party of this partner")


def _checked(data: Token, country_code: str, party_id: str, uid: str) -> Token:
    if (data.country_code.upper(), data.party_id.upper(), data.uid) != (country_code.upper(), party_id.upper(), uid):
        raise OcpiError(INVALID_PARAMETERS, "country_code, party_id and uid must match the URL")
    if data.last_updated.tzinfo is None:
        raise OcpiError(INVALID_PARAMETERS, "last_updated: a UTC time (ending in Z)")
    return data


async def _stored(db: AsyncSession, caller: Caller, country_code: str, party_id: str, uid: str,
                  kind: str) -> RoamingToken | None:  # fmt: skip
    query = select(RoamingToken).where(
        RoamingToken.tenant_id == caller.partner.tenant_id, RoamingToken.partner_id == caller.partner.id,
        RoamingToken.country_code == country_code.upper(), RoamingToken.party_id == party_id.upper(),
        RoamingToken.uid == uid, RoamingToken.type == kind,
    )  # fmt: skip
    return (await db.execute(query)).scalar_one_or_none()


async def save_token(db: AsyncSession, partner: RoamingPartner, token: Token, whitelist: str | None = None) -> None:
    """Upserted per partner: another partner pushing the same uid gets a token of its own."""
    values = {
        "tenant_id": partner.tenant_id, "partner_id": partner.id,
        "country_code": token.country_code.upper(), "party_id": token.party_id.upper(), "uid": token.uid,
        "type": token.type, "contract_id": token.contract_id, "valid": token.valid,
        "whitelist": whitelist or token.whitelist,
        "body": msgspec.json.decode(msgspec.json.encode(token)), "last_updated": token.last_updated,
    }  # fmt: skip
    statement = insert(RoamingToken).values(**values)
    await db.execute(statement.on_conflict_do_update(
        index_elements=["tenant_id", "partner_id", "country_code", "party_id", "uid", "type"],
        set_={k: statement.excluded[k] for k in ("contract_id", "valid", "whitelist", "body", "last_updated")},
    ))  # fmt: skip


PATH = "/2.2.1/tokens/{country_code:str}/{party_id:str}/{token_uid:str}"
DEPENDENCIES = {"caller": Provide(provide_registered_caller)}


@get(PATH, dependencies=DEPENDENCIES)
async def get_token(
    request: Request[Any, Any, Any], db: AsyncSession, caller: Caller, country_code: str, party_id: str,
    token_uid: str, type: str = "RFID",
) -> Response[bytes]:  # fmt: skip
    """Our copy of a token they pushed (to check we have it right)."""
    check_party(caller, country_code, party_id)
    async with db.begin():
        found = await _stored(db, caller, country_code, party_id, token_uid, type)
    if found is None:
        raise OcpiError(UNKNOWN_TOKEN, f"unknown token {token_uid}", 404)
    return answer(request, found.body)


@put(PATH, dependencies=DEPENDENCIES)
async def put_token(
    request: Request[Any, Any, Any], db: AsyncSession, caller: Caller, country_code: str, party_id: str,
    token_uid: str, type: str = "RFID",
) -> Response[bytes]:  # fmt: skip
    """A new or replaced token."""
    check_party(caller, country_code, party_id)
    try:
        token = msgspec.json.decode(await request.body(), type=Token)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise OcpiError(INVALID_PARAMETERS, f"token: {error}") from None
    if token.type != type:
        raise OcpiError(INVALID_PARAMETERS, "type must match the URL's type parameter (default RFID)")
    async with db.begin():
        await save_token(db, caller.partner, _checked(token, country_code, party_id, token_uid))
    return answer(request)


@patch(PATH, dependencies=DEPENDENCIES)
async def patch_token(
    request: Request[Any, Any, Any], db: AsyncSession, caller: Caller, country_code: str, party_id: str,
    token_uid: str, type: str = "RFID",
) -> Response[bytes]:  # fmt: skip
    """Some fields of a token we have; ``last_updated`` is required."""
    check_party(caller, country_code, party_id)
    try:
        changes = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as error:
        raise OcpiError(INVALID_PARAMETERS, f"token: not JSON ({error})") from None
    if not isinstance(changes, dict) or "last_updated" not in changes:
        raise OcpiError(INVALID_PARAMETERS, "a PATCH carries last_updated")
    async with db.begin():
        found = await _stored(db, caller, country_code, party_id, token_uid, type)
        if found is None:
            raise OcpiError(UNKNOWN_TOKEN, f"unknown token {token_uid}", 404)
        try:
            token = msgspec.convert(found.body | changes, Token)
        except msgspec.ValidationError as error:
            raise OcpiError(INVALID_PARAMETERS, f"token: {error}") from None
        await save_token(db, caller.partner, _checked(token, country_code, party_id, token_uid))
    return answer(request)


HANDLERS = [get_token, put_token, patch_token]
