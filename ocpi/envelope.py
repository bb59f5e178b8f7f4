"""The OCPI response envelope, status codes, and the transport headers on every answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response

SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
UNKNOWN_TOKEN = 2004
SERVER_ERROR = 3000
UNABLE_TO_USE_CLIENT_API = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003
ENCODER = msgspec.json.Encoder(decimal_format="number")


class OcpiError(Exception):
    """Answered as an OCPI envelope with ``status_code`` and the HTTP status given."""

    def __init__(self, status_code: int, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.http_status = http_status


def now() -> datetime:
    return datetime.now(UTC)


def envelope(data: Any = None, status_code: int = SUCCESS, message: str = "Success") -> dict[str, Any]:
    body: dict[str, Any] = {"status_code": status_code, "status_message": message, "timestamp": now()}
    if data is not None:
        body = {"data": data, **body}
    return body


def request_headers(request: Request[Any, Any, Any]) -> dict[str, str]:
    """X-Request-ID (ours, new) and X-Correlation-ID (theirs, kept, or a new one)."""
    return {
        "X-Request-ID": str(uuid.uuid4()),
        "X-Correlation-ID": request.headers.get("x-correlation-id") or str(uuid.uuid4()),
    }


def answer(
    request: Request[Any, Any, Any], data: Any = None, status_code: int = SUCCESS, message: str = "Success",
    http_status: int = 200, headers: dict[str, str] | None = None,
) -> Response[bytes]:  # fmt: skip
    routed: dict[str, str] = getattr(request.state, "routing", None) or {}
    return Response(
        ENCODER.encode(envelope(data, status_code, message)),
        status_code=http_status,
        media_type="application/json",
        headers=request_headers(request) | routed | (headers or {}),
    )
