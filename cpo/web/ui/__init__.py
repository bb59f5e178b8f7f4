"""The admin web UI: server-rendered pages, every asset served by the app itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router
from litestar.di import Provide
from litestar.response import Redirect, Template

from cpo.errors import Conflict, DomainError, Forbidden, NotFound
from cpo.web.ui.session import SignInRequired, language_of, provide_ui_user

HERE = Path(__file__).parent
UI_TEMPLATES = HERE / "templates"
UI_STATIC = HERE / "static"


def _sign_in(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    return Redirect(f"/ui/login?next={quote(request.url.path)}")


def _error_page(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    status = 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, Forbidden) else 400
    if isinstance(exc, Conflict):
        status = 409
    return Template(
        "error.html",
        context={"lang": language_of(request), "status": status, "message": str(exc), "user": None},
        status_code=status,
    )


def ui_router() -> Router:
    from cpo.web.ui.pages import AuthPages, DashboardPage, SitePages
    from cpo.web.ui.station_pages import StationPages

    return Router(
        path="/ui",
        route_handlers=[AuthPages, DashboardPage, SitePages, StationPages],
        dependencies={"user": Provide(provide_ui_user)},
        exception_handlers={SignInRequired: _sign_in, DomainError: _error_page},
        include_in_schema=False,
    )
