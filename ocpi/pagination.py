"""OCPI pagination: offset, limit, date_from (inclusive), date_to (exclusive); Link, X-Total-Count, X-Limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request

from ocpi.envelope import INVALID_PARAMETERS, OcpiError

MAX_LIMIT = 100
MAX_OFFSET = 2**63 - 1
"""PostgreSQL's OFFSET is a bigint: beyond it the query itself would fail."""


@dataclass(frozen=True, slots=True)
class Page:
    offset: int
    limit: int
    date_from: datetime | None
    date_to: datetime | None

    def headers(self, request: Request[Any, Any, Any], total: int) -> dict[str, str]:
        out = {"X-Total-Count": str(total), "X-Limit": str(self.limit)}
        if self.offset + self.limit < total:
            query = dict(request.query_params) | {"offset": str(self.offset + self.limit), "limit": str(self.limit)}
            out["Link"] = f'<{str(request.url).split("?")[0]}?{urlencode(query)}>; rel="next"'
        return out


def _moment(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OcpiError(INVALID_PARAMETERS, f"{name}: an RFC 3339 date and time") from None
    if moment.tzinfo is None:
        raise OcpiError(INVALID_PARAMETERS, f"{name}: a UTC time (ending in Z)")
    return moment


def page_of(request: Request[Any, Any, Any]) -> Page:
    params = request.query_params
    try:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or MAX_LIMIT)
    except ValueError:
        raise OcpiError(INVALID_PARAMETERS, "offset and limit are whole numbers") from None
    if offset < 0 or limit < 1:
        raise OcpiError(INVALID_PARAMETERS, "offset 0 or more, limit 1 or more")
    if offset > MAX_OFFSET:
        raise OcpiError(INVALID_PARAMETERS, f"offset at most {MAX_OFFSET}")
    return Page(offset, min(limit, MAX_LIMIT), _moment(params.get("date_from"), "date_from"),
                _moment(params.get("date_to"), "date_to"))  # fmt: skip
