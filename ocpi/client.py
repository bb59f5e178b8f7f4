"""Calls to a partner's OCPI interfaces: versions, version details, credentials (through ``ocpi.outbound``)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from ocpi.envelope import (
    INVALID_PARAMETERS,
    NO_MATCHING_ENDPOINTS,
    UNABLE_TO_USE_CLIENT_API,
    UNSUPPORTED_VERSION,
    OcpiError,
)
from ocpi.outbound import FAILURES, UNREACHABLE, PartnerHttp, RefusedUrl, failed

VERSION = "2.2.1"


def authorization(token: str, plain: bool = False) -> str:
    """``Token <base64 of the credentials token>`` (or the token as it is, for peers that want that)."""
    return f"Token {token if plain else base64.b64encode(token.encode()).decode()}"


def headers(token: str, plain: bool = False) -> dict[str, str]:
    return {"Authorization": authorization(token, plain), "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": str(uuid.uuid4())}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Discovered:
    version: str
    version_url: str
    endpoints: dict[str, str]
    """``"module:ROLE" -> url`` of the version we both speak."""


def checked(http: PartnerHttp, url: str, what: str) -> str:
    """``url`` if we may call it; else OCPI 2001 (a URL handed to us that we will not call)."""
    try:
        return http.check(url, what)
    except RefusedUrl as refused:
        raise OcpiError(INVALID_PARAMETERS, str(refused)) from None


def unreachable(what: str, url: str, reason: BaseException | str) -> OcpiError:
    """The one error a caller sees when a partner's server fails us; the reason goes to the log."""
    failed(what, url, reason)
    return OcpiError(UNABLE_TO_USE_CLIENT_API, UNREACHABLE)


async def _get(client: httpx.AsyncClient, url: str, token: str, plain: bool) -> Any:
    try:
        response = await client.get(url, headers=headers(token, plain))
    except FAILURES as error:
        raise unreachable("GET", url, error) from None
    if response.status_code != 200:
        raise unreachable("GET", url, f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise unreachable("GET", url, f"HTTP {response.status_code}, no JSON") from None
    if not isinstance(body, dict) or body.get("status_code") != 1000 or "data" not in body:
        raise unreachable("GET", url, "no OCPI success envelope")
    return body["data"]


async def discover(http: PartnerHttp, versions_url: str, token: str, plain: bool = False) -> Discovered:
    """Their versions, then the details of 2.2.1: the endpoints we may call (each URL must pass the policy)."""
    checked(http, versions_url, "url")
    async with http.client() as client:
        versions = await _get(client, versions_url, token, plain)
        match = next((v for v in versions if isinstance(v, dict) and v.get("version") == VERSION), None) \
            if isinstance(versions, list) else None  # fmt: skip
        if match is None or not match.get("url"):
            raise OcpiError(UNSUPPORTED_VERSION, f"the partner offers no OCPI {VERSION}")
        details = await _get(client, checked(http, str(match["url"]), "the version's url"), token, plain)
    endpoints = {}
    for endpoint in details.get("endpoints", []) if isinstance(details, dict) else []:
        if isinstance(endpoint, dict) and endpoint.get("identifier") and endpoint.get("url"):
            url = checked(http, str(endpoint["url"]), f"the url of endpoint {endpoint['identifier']}"[:80])
            endpoints[f"{endpoint['identifier']}:{endpoint.get('role', 'RECEIVER')}"] = url
    if not any(key.startswith("credentials:") for key in endpoints):
        raise OcpiError(NO_MATCHING_ENDPOINTS, "the partner's version details list no credentials endpoint")
    return Discovered(VERSION, str(match["url"]), endpoints)


async def post_credentials(
    http: PartnerHttp, url: str, token: str, ours: dict[str, Any], plain: bool = False, method: str = "POST"
) -> dict[str, Any]:
    """Send our credentials to theirs (POST to register, PUT to update); their credentials back."""
    async with http.client() as client:
        try:
            response = await client.request(method, checked(http, url, "credentials url"), json=ours,
                                            headers=headers(token, plain))  # fmt: skip
        except FAILURES as error:
            raise unreachable(method, url, error) from None
    try:
        body = response.json()
    except ValueError:
        raise unreachable(method, url, f"HTTP {response.status_code}, no JSON") from None
    data = body.get("data") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(data, dict) or not data.get("token"):
        message = body.get("status_message") if isinstance(body, dict) else None
        raise unreachable(method, url, f"credentials refused: HTTP {response.status_code}, {str(message)[:200]}")
    if data.get("url") is not None:
        checked(http, str(data["url"]), "the url in the partner's credentials")
    return data
