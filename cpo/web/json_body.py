"""Request bodies nested too deeply to decode are refused before any handler decodes them.

One guard for every HTTP route (admin API, SCIM, OCPI, the pay start, webhooks): some decode through
Litestar's ``data``, others call msgspec on ``request.body()`` themselves, and all of them would meet a
RecursionError (a 500) on ``[`` x 5000. ``TooDeeplyNested`` is a ValidationException, so each router
renders it as it renders any invalid input: problem details, a SCIM error, OCPI's 2001 in the envelope.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ValidationException

from cpo.json_depth import MAX_DEPTH, nested_too_deep

TOO_DEEP = f"the body nests arrays and objects more than {MAX_DEPTH} deep"
# Form posts (the UI, CSV uploads) are not JSON; their text may hold brackets at will.
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class TooDeeplyNested(ValidationException):
    """A body nested deeper than any message we take (400)."""

    def __init__(self) -> None:
        super().__init__(detail=TOO_DEEP, extra=[{"key": "data", "message": TOO_DEEP}])


async def refuse_deep_json(request: Request[Any, Any, Any]) -> None:
    """Litestar ``before_request`` hook: runs before the handler's body is decoded."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.headers.get("content-type", "").lower().startswith(_FORMS):
        return
    if nested_too_deep(await request.body()):
        raise TooDeeplyNested
