"""Tokens, receiver interface: partners push their drivers' tokens; our stations honour them by whitelist."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Request, Response, get, patch, put
from litestar.di import Provide
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.roaming.models import RoamingToken
from ocpi.auth import Caller, provide_registered_caller
from ocpi.envelope import INVALID_PARAMETERS, UNKNOWN_TOKEN, OcpiError, answer

TokenType = Literal["AD_HOC_USER", "APP_USER", "OTHER", "RFID"]
Whitelist = Literal["ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"]


class EnergyContract(msgspec.Struct):
    supplier_name: str
    contract_id: str | None = None


class Token(msgspec.Struct, omit_defaults=True):
    country_code: str
    party_id: str
    uid: str
    type: TokenType
    contract_id: str
    issuer: str
    valid: bool
    whitelist: Whitelist
    last_updated: datetime
    visual_number: str | None = None
    group_id: str | None = None
    language: str | None = None
    default_profile_type: Literal["CHEAP", "FAST", "GREEN", "REGULAR"] | None = None
    energy_contract: EnergyContract | None = None


def _check_path(caller: Caller, country_code: str, party_id: str) -> None:
    parties = {(caller.partner.country_code, caller.partner.party_id)} | {
        (str(r.get("country_code", "")).upper(), str(r.get("party_id", "")).upper()) for r in caller.partner.roles or []
    }  # fmt: skip
    if (country_code.upper(), party_id.upper()) not in parties:
        raise OcpiError(INVALID_PARAMETERS, f"{country_code}/{party_id} is not a party of this partner")


def _checked(data: Token, country_code: str, party_id: str, uid: str) -> Token:
    if (data.country_code.upper(), data.party_id.upper(), data.uid) != (country_code.upper(), party_id.upper(), uid):
        raise OcpiError(INVALID_PARAMETERS, "country_code, party_id and uid must match the URL")
    if len(data.uid) > 36 or len(data.contract_id) > 36 or len(data.country_code) != 2 or len(data.party_id) != 3:
        raise OcpiError(INVALID_PARAMETERS, "uid and contract_id at most 36, country_code 2, party_id 3 characters")
    if data.last_updated.tzinfo is None:
        raise OcpiError(INVALID_PARAMETERS, "last_updated: a UTC time (ending in Z)")
    return data


async def _stored(db: AsyncSession, caller: Caller, country_code: str, party_id: str, uid: str,
                  kind: str) -> RoamingToken | None:  # fmt: skip
    query = select(RoamingToken).where(
        RoamingToken.tenant_id == caller.partner.tenant_id, RoamingToken.country_code == country_code.upper(),
        RoamingToken.party_id == party_id.upper(), RoamingToken.uid == uid, RoamingToken.type == kind,
    )  # fmt: skip
    return (await db.execute(query)).scalar_one_or_none()


async def _save(db: AsyncSession, caller: Caller, token: Token) -> None:
    values = {
        "tenant_id": caller.partner.tenant_id, "partner_id": caller.partner.id,
        "country_code": token.country_code.upper(), "party_id": token.party_id.upper(), "uid": token.uid,
        "type": token.type, "contract_id": token.contract_id, "valid": token.valid, "whitelist": token.whitelist,
        "body": msgspec.json.decode(msgspec.json.encode(token)), "last_updated": token.last_updated,
    }  # fmt: skip
    statement = insert(RoamingToken).values(**values)
    await db.execute(statement.on_conflict_do_update(
        index_elements=["tenant_id", "country_code", "party_id", "uid", "type"],
        set_={k: statement.excluded[k] for k in ("partner_id", "contract_id", "valid", "whitelist", "body",
                                                 "last_updated")},
    ))  # fmt: skip


PATH = "/2.2.1/tokens/{country_code:str}/{party_id:str}/{token_uid:str}"
DEPENDENCIES = {"caller": Provide(provide_registered_caller)}


@get(PATH, dependencies=DEPENDENCIES)
async def get_token(
    request: Request[Any, Any, Any], db: AsyncSession, caller: Caller, country_code: str, party_id: str,
    token_uid: str, type: str = "RFID",
) -> Response[bytes]:  # fmt: skip
    """Our copy of a token they pushed (to check we have it right)."""
    _check_path(caller, country_code, party_id)
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
    _check_path(caller, country_code, party_id)
    try:
        token = msgspec.json.decode(await request.body(), type=Token)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise OcpiError(INVALID_PARAMETERS, f"token: {error}") from None
    if token.type != type:
        raise OcpiError(INVALID_PARAMETERS, "type must match the URL's type parameter (default RFID)")
    async with db.begin():
        await _save(db, caller, _checked(token, country_code, party_id, token_uid))
    return answer(request)


@patch(PATH, dependencies=DEPENDENCIES)
async def patch_token(
    request: Request[Any, Any, Any], db: AsyncSession, caller: Caller, country_code: str, party_id: str,
    token_uid: str, type: str = "RFID",
) -> Response[bytes]:  # fmt: skip
    """Some fields of a token we have; ``last_updated`` is required."""
    _check_path(caller, country_code, party_id)
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
        await _save(db, caller, _checked(token, country_code, party_id, token_uid))
    return answer(request)


HANDLERS = [get_token, put_token, patch_token]
