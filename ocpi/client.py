"""Calls to a partner's OCPI interfaces: versions, version details, credentials (httpx)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from ocpi.envelope import NO_MATCHING_ENDPOINTS, UNABLE_TO_USE_CLIENT_API, UNSUPPORTED_VERSION, OcpiError

VERSION = "2.2.1"
TIMEOUT = httpx.Timeout(15.0)


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


async def _get(client: httpx.AsyncClient, url: str, token: str, plain: bool) -> Any:
    try:
        response = await client.get(url, headers=headers(token, plain))
    except httpx.HTTPError as error:
        raise OcpiError(UNABLE_TO_USE_CLIENT_API, f"could not reach {url}: {type(error).__name__}") from None
    if response.status_code != 200:
        raise OcpiError(UNABLE_TO_USE_CLIENT_API, f"{url} answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise OcpiError(UNABLE_TO_USE_CLIENT_API, f"{url} answered no JSON") from None
    if not isinstance(body, dict) or body.get("status_code") != 1000 or "data" not in body:
        raise OcpiError(UNABLE_TO_USE_CLIENT_API, f"{url} answered no OCPI success envelope")
    return body["data"]


async def discover(
    versions_url: str, token: str, plain: bool = False, client: httpx.AsyncClient | None = None
) -> Discovered:
    """Their versions, then the details of 2.2.1: the endpoints we may call."""
    own = client is None
    client = client or httpx.AsyncClient(timeout=TIMEOUT)
    try:
        versions = await _get(client, versions_url, token, plain)
        match = next((v for v in versions if isinstance(v, dict) and v.get("version") == VERSION), None) \
            if isinstance(versions, list) else None  # fmt: skip
        if match is None or not match.get("url"):
            raise OcpiError(UNSUPPORTED_VERSION, f"the partner offers no OCPI {VERSION}")
        details = await _get(client, str(match["url"]), token, plain)
    finally:
        if own:
            await client.aclose()
    endpoints = {}
    for endpoint in details.get("endpoints", []) if isinstance(details, dict) else []:
        if isinstance(endpoint, dict) and endpoint.get("identifier") and endpoint.get("url"):
            endpoints[f"{endpoint['identifier']}:{endpoint.get('role', 'RECEIVER')}"] = str(endpoint["url"])
    if not any(key.startswith("credentials:") for key in endpoints):
        raise OcpiError(NO_MATCHING_ENDPOINTS, "the partner's version details list no credentials endpoint")
    return Discovered(VERSION, str(match["url"]), endpoints)


async def post_credentials(
    url: str, token: str, ours: dict[str, Any], plain: bool = False, method: str = "POST",
    client: httpx.AsyncClient | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Send our credentials to theirs (POST to register, PUT to update); their credentials back."""
    own = client is None
    client = client or httpx.AsyncClient(timeout=TIMEOUT)
    try:
        response = await client.request(method, url, json=ours, headers=headers(token, plain))
    except httpx.HTTPError as error:
        raise OcpiError(UNABLE_TO_USE_CLIENT_API, f"could not reach {url}: {type(error).__name__}") from None
    finally:
        if own:
            await client.aclose()
    try:
        body = response.json()
    except ValueError:
        raise OcpiError(UNABLE_TO_USE_CLIENT_API, f"{url} answered HTTP {response.status_code}, no JSON") from None
    data = body.get("data") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(data, dict) or not data.get("token"):
        raise OcpiError(UNABLE_TO_USE_CLIENT_API, f"{url} refused our credentials: HTTP {response.status_code}, "
                                                  f"{(body or {}).get('status_message') if isinstance(body, dict) else ''}")  # fmt: skip
    return data
