"""Domain and validation errors as RFC 9457 problem details: the one mapping for the admin API."""

from __future__ import annotations

import logging
import re
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_500_INTERNAL_SERVER_ERROR,
)
from sqlalchemy.exc import DBAPIError

from cpo.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthenticated

log = logging.getLogger("cpo.web")
PROBLEM = "application/problem+json"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
# msgspec: "Expected `str` matching regex '...' - at `$.country`" / "Object missing required field `name`".
MAX_MESSAGE = 2000
_AT = re.compile(r"^(?P<reason>.*?) - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`")


def problem(status: int, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any) -> Response[Any]:
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status}
    body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == HTTP_401_UNAUTHORIZED else None
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


def field_error(message: str, key: str | None = None) -> dict[str, str]:
    """Split a msgspec message into the field it concerns and the reason."""
    if len(message) > MAX_MESSAGE:
        # msgspec quotes the client's own field names: a megabyte of them is not worth parsing, nor echoing.
        return {"field": key if key and key != "data" else "", "reason": message[:MAX_MESSAGE] + "..."}
    match = _AT.match(message)
    if match:
        path = match["path"].lstrip(".")
        message, prefix = match["reason"], path + "."
    else:
        prefix = ""
    if missing := _MISSING.match(message):
        return {"field": prefix + missing["field"], "reason": "required"}
    if unknown := _UNKNOWN.match(message):
        return {"field": prefix + unknown["field"], "reason": "unknown field"}
    if match:
        return {"field": path, "reason": message}
    return {"field": key if key and key != "data" else "", "reason": message}


def validation_errors(exc: ValidationException) -> list[dict[str, str]]:
    extra = exc.extra
    items = extra if isinstance(extra, list) else [extra] if extra else []
    errors = []
    for item in items:
        if isinstance(item, dict):
            key = item.get("key")
            message = str(item.get("message", ""))
            error = field_error(message, key)
            if not error["field"] and key and key != "data":
                error["field"] = key
            source = getattr(item.get("source"), "value", item.get("source"))
            if source in ("query", "path", "header", "cookie"):
                error["field"] = f"{source}.{error['field'] or key}"
            errors.append(error)
    return errors


def domain_error_response(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if isinstance(exc, NotFound):
        return problem(HTTP_404_NOT_FOUND, str(exc))
    if isinstance(exc, Conflict):
        errors = [{"field": exc.field, "reason": str(exc)}] if exc.field else None
        return problem(HTTP_409_CONFLICT, str(exc), errors)
    if isinstance(exc, InvalidInput):
        return problem(HTTP_400_BAD_REQUEST, str(exc), [{"field": exc.field, "reason": exc.reason}])
    if isinstance(exc, Unauthenticated):
        return problem(HTTP_401_UNAUTHORIZED, str(exc))
    if isinstance(exc, Forbidden):
        return problem(HTTP_403_FORBIDDEN, str(exc))
    return problem(HTTP_400_BAD_REQUEST, str(exc))


def validation_response(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = validation_errors(exc)
    detail = "; ".join(f"{e['field']}: {e['reason']}" if e["field"] else e["reason"] for e in errors)
    return problem(HTTP_400_BAD_REQUEST, detail or "invalid request", errors)


def http_error_response(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, NotFoundException):
        return problem(HTTP_404_NOT_FOUND, "no such resource")
    return problem(exc.status_code, exc.detail)


def is_bad_data(exc: Exception) -> bool:
    """PostgreSQL refused a value itself (a NUL character, a number out of range): the client's fault."""
    return isinstance(exc, DBAPIError) and isinstance(getattr(exc.orig, "__cause__", None), asyncpg.DataError)


def database_error_response(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    if is_bad_data(exc):
        return problem(HTTP_400_BAD_REQUEST, "a value cannot be stored (for example a NUL character in a text)")
    return internal_error_response(request, exc)


def internal_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The route template, not the path: a path may hold a secret (a driver's pay link) or personal data.
    log.exception("unhandled error", extra={"route": request.scope.get("path_template") or "unmatched"})
    return Response(
        {"type": "about:blank", "title": "Internal Server Error", "status": 500, "detail": "internal error"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=PROBLEM,
    )


API_EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_response,
    ValidationException: validation_response,
    HTTPException: http_error_response,
    DBAPIError: database_error_response,
    HTTP_500_INTERNAL_SERVER_ERROR: internal_error_response,
}

__all__ = ["API_EXCEPTION_HANDLERS", "PROBLEM", "problem"]
