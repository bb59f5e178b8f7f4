"""Admin REST API under /api/v1 (bearer tokens)."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from cpo.web.api.accounts import TenantController, TokenController
from cpo.web.api.audit import AuditController
from cpo.web.api.charging import SessionController, StationLiveController
from cpo.web.api.people import (
    AccessRuleController,
    BadgeController,
    GroupController,
    PeopleImportController,
    PersonController,
)
from cpo.web.api.sites import ConnectorController, EvseController, SiteController, StationController
from cpo.web.api.tariffs import (
    BillingController,
    CdrController,
    PriceController,
    SessionCostController,
    TariffAssignmentController,
    TariffController,
)
from cpo.web.deps import provide_principal, provide_scoped_db
from cpo.web.problems import API_EXCEPTION_HANDLERS


def api_router() -> Router:
    return Router(
        path="/api/v1",
        route_handlers=[
            SiteController, StationController, EvseController, ConnectorController, TokenController, TenantController,
            StationLiveController, SessionController, BadgeController, PersonController, GroupController,
            AccessRuleController, AuditController, PeopleImportController, TariffController,
            TariffAssignmentController, CdrController, BillingController, SessionCostController, PriceController,
        ],
        dependencies={"principal": Provide(provide_principal), "db": Provide(provide_scoped_db)},
        exception_handlers=API_EXCEPTION_HANDLERS,
        security=[{"BearerToken": []}],
    )  # fmt: skip
