"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Response, get
from litestar.datastructures import State
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from cpo.web.deps import runtime_of


@get("/healthz", media_type=MediaType.TEXT, include_in_schema=False, sync_to_thread=False)
def healthz() -> str:
    """The process is up and answering."""
    return "ok"


@get("/readyz", include_in_schema=False)
async def readyz(state: State) -> Response[dict[str, Any]]:
    """Ready to serve: the database answers and its schema is at the revision this code expects."""
    ok, detail = await runtime_of(state).ready()
    return Response(
        {"status": "ready" if ok else "not ready", "detail": detail},
        status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE,
    )
