"""Who may do what to sites beyond ``sites.write``: the same rules for the API and the UI. Pure, no I/O."""

from __future__ import annotations

import uuid

from cpo.accounts.roles import Principal
from cpo.errors import Forbidden


def require_site_creation(principal: Principal) -> None:
    """A site manager manages the sites given to them; a new site would be one nobody gave them."""
    principal.require("sites.write")
    if principal.site_ids is not None:
        raise Forbidden("a site manager manages the sites given to them and creates no others")


def may_choose_homes(principal: Principal) -> bool:
    """Making a site someone's home means picking a person (and publishing their address to their manager):
    it takes seeing people, which a site manager does not."""
    return principal.can("people.read")


def require_home_unchanged_unless_allowed(
    principal: Principal, current: uuid.UUID | None, wanted: uuid.UUID | None
) -> None:
    if wanted != current and not may_choose_homes(principal):
        raise Forbidden("choosing whose home a site is needs the right to see people")
