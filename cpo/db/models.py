"""Imports every model so the metadata is complete (migrations, autogenerate, tests)."""

from cpo.accounts.models import Account, ApiToken, LoginSession
from cpo.db.base import Base
from cpo.outbox.models import OutboxEvent
from cpo.sites.models import Connector, Evse, Site, Station
from cpo.tenants.models import Tenant

__all__ = [
    "Account", "ApiToken", "Base", "Connector", "Evse", "LoginSession", "OutboxEvent", "Site", "Station", "Tenant",
]  # fmt: skip
