"""The admin web UI: server-rendered pages, every asset served by the app itself."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DBAPIError

from cpo.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from cpo.web.problems import is_bad_data
from cpo.web.ui.session import SignInRequired, language_of, provide_ui_user

log = logging.getLogger("cpo.web")
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


def _server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_bad_data(exc):
        return _error_page(request, InvalidInput("form", "a value cannot be stored (e.g. a NUL character)"))
    log.exception("unhandled error in the UI", extra={"route": request.scope.get("path_template")})
    context = {"lang": language_of(request), "status": 500, "message": "internal error", "user": None}
    return Template("error.html", context=context, status_code=500)


def ui_router(extra: Sequence[Any] = ()) -> Router:
    """The UI; ``extra`` are pages that transports add (the composition root passes them)."""
    from cpo.web.ui.access_pages import BadgePages, RulePages
    from cpo.web.ui.account_pages import AccountPages
    from cpo.web.ui.audit_pages import AuditPages
    from cpo.web.ui.live_pages import LivePages
    from cpo.web.ui.pages import AuthPages, DashboardPage, SitePages
    from cpo.web.ui.people_pages import GroupPages, MePages, PeoplePages
    from cpo.web.ui.settings_pages import SettingsPages
    from cpo.web.ui.station_pages import StationPages
    from cpo.web.ui.tariff_pages import BillingPages, CdrPages, TariffPages

    return Router(
        path="/ui",
        route_handlers=[
            AuthPages,
            DashboardPage,
            SitePages,
            StationPages,
            LivePages,
            AccountPages,
            PeoplePages,
            MePages,
            AuditPages,
            GroupPages,
            BadgePages,
            RulePages,
            SettingsPages,
            TariffPages,
            CdrPages,
            BillingPages,
            *extra,
        ],
        dependencies={"user": Provide(provide_ui_user)},
        exception_handlers={
            SignInRequired: _sign_in,
            DomainError: _error_page,
            DBAPIError: _server_error,
            HTTP_500_INTERNAL_SERVER_ERROR: _server_error,
        },
        include_in_schema=False,
    )
