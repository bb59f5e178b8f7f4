"""Badges and access rules in the UI: edit a badge's validity and group, edit or remove a rule in place."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.access import badges, policies
from cpo.access.models import AccessRule, Badge
from cpo.access.schemas import BadgeIn, RuleIn
from cpo.errors import Conflict, DomainError, InvalidInput
from cpo.people import service as people
from cpo.sites import service as sites
from cpo.sites.models import Evse, Station
from cpo.web.ui.forms import FormErrors, errors_of, form_values, parse_form
from cpo.web.ui.session import UiUser, provide_ui_db, ui_user_needing

_WINDOW_FIELD = re.compile(r"^windows\[(\d+)\]$")


RULE_LISTS = ("site_ids", "evse_ids")
"""A rule form's fields with several values."""


async def rule_places(db: AsyncSession, tenant_id: uuid.UUID) -> dict[str, Any]:
    """What a rule form offers: the tenant's sites, and its EVSEs grouped by site."""
    all_sites = await sites.list_sites(db, tenant_id)
    names = {site.id: site.name for site in all_sites}
    rows = (await db.execute(select(Evse.id, Evse.evse_id, Evse.uid, Station.identity, Station.site_id)
                             .join(Station, Station.id == Evse.station_id).where(Evse.tenant_id == tenant_id)
                             .order_by(Station.identity, Evse.ocpp_evse_id))).all()  # fmt: skip
    grouped: dict[str, list[tuple[str, str]]] = {}
    for evse_id, public_id, uid, identity, site_id in rows:
        grouped.setdefault(names.get(site_id, ""), []).append((str(evse_id), f"{identity} · {public_id or uid}"))
    return {"sites": all_sites, "evse_groups": sorted(grouped.items())}


def rule_form_values(form_data: dict[str, Any]) -> dict[str, Any]:
    """A rule form's values: windows one per line, sites as a list."""
    values = dict(form_data)
    values["windows"] = [line.strip() for line in values.pop("windows", "").splitlines() if line.strip()]
    return values


def parse_rule(values: dict[str, Any], owner: dict[str, str]) -> RuleIn:
    """The rule a form describes, for ``owner`` (``{"person_id": ...}`` or ``{"group_id": ...}``)."""
    fields = {k: v for k, v in values.items() if k in RuleIn.__struct_fields__} | owner
    for listed in RULE_LISTS:
        if not fields.get(listed):
            fields.pop(listed, None)
    return parse_form(fields, RuleIn)


def rule_errors(error: DomainError) -> dict[str, str]:
    """A rule form's errors, a window's named by its line."""
    errors: dict[str, str] = {}
    for key, message in errors_of(error).items():
        if match := _WINDOW_FIELD.match(key):
            errors["windows"] = f"line {int(match.group(1)) + 1}: {message}"
        else:
            errors[key] = message
    return errors


def rule_values_of(rule: AccessRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "windows": list(rule.windows or []),
        "site_ids": [str(s) for s in rule.site_ids or []],
        "evse_ids": [str(e) for e in rule.evse_ids or []],
        "monthly_kwh_quota": "" if rule.monthly_kwh_quota is None else str(rule.monthly_kwh_quota),
        "valid_from": rule.valid_from.isoformat() if rule.valid_from else "",
        "valid_until": rule.valid_until.isoformat() if rule.valid_until else "",
    }


def _owner_page(person_id: uuid.UUID | None, group_id: uuid.UUID | None) -> str:
    if person_id is not None:
        return f"/ui/people/{person_id}"
    return f"/ui/groups/{group_id}" if group_id else "/ui/people"


def _day_bound(text: str | None, field: str, end: bool) -> str | None:
    """A date field as the start (or the end) of that day in UTC, in the form the badge input takes."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise FormErrors({field: "a date as YYYY-MM-DD"}) from None
    return datetime.combine(day, time(23, 59, 59) if end else time(0), UTC).isoformat()


def _badge_values(badge: Badge) -> dict[str, Any]:
    return {
        "label": badge.label or "",
        "token_type": badge.token_type,
        "status": badge.status,
        "person_id": str(badge.person_id or ""),
        "group_uid": badge.group_uid or "",
        "valid_from": badge.valid_from.date().isoformat() if badge.valid_from else "",
        "valid_to": badge.valid_to.date().isoformat() if badge.valid_to else "",
    }


class BadgePages(Controller):
    path = "/badges"
    dependencies = {"user": ui_user_needing("people.write"), "db": Provide(provide_ui_db)}

    async def _form(
        self, db: AsyncSession, user: UiUser, badge: Badge, values: dict[str, Any], errors: dict[str, str]
    ) -> Template:
        async with db.begin():
            everyone = await people.list_people(db, user.principal.tenant_id)
        context = user.context(badge=badge, values=values, errors=errors, people=everyone, section="people")
        return Template("people/badge.html", context=context, status_code=400 if errors else 200)

    @get("/{badge_id:uuid}/edit")
    async def edit_badge(self, db: AsyncSession, user: UiUser, badge_id: uuid.UUID) -> Template:
        async with db.begin():
            badge = await badges.get_badge(db, user.principal.tenant_id, badge_id)
        return await self._form(db, user, badge, _badge_values(badge), {})

    @post("/{badge_id:uuid}/edit")
    async def update_badge(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, badge_id: uuid.UUID
    ) -> Template | Redirect:
        """The UID stays (a new card is a new badge); validity dates are whole days in UTC."""
        user.require("people.write", db)
        values = form_values(await request.form())
        try:
            async with db.begin():
                badge = await badges.get_badge(db, user.principal.tenant_id, badge_id)
                fields = {k: v for k, v in values.items() if k in ("label", "token_type", "status", "person_id",
                                                                  "group_uid")}  # fmt: skip
                fields |= {"uid": badge.uid, "valid_from": _day_bound(values.get("valid_from"), "valid_from", False),
                           "valid_to": _day_bound(values.get("valid_to"), "valid_to", True)}  # fmt: skip
                badge = await badges.update_badge(
                    db, user.principal.tenant_id, badge_id, parse_form({k: v for k, v in fields.items() if v}, BadgeIn)
                )
                person_id = badge.person_id
        except (FormErrors, InvalidInput, Conflict) as invalid:
            async with db.begin():
                badge = await badges.get_badge(db, user.principal.tenant_id, badge_id)
            return await self._form(db, user, badge, values, errors_of(invalid))
        return Redirect(_owner_page(person_id, None))


class RulePages(Controller):
    path = "/rules"
    dependencies = {"user": ui_user_needing("people.write"), "db": Provide(provide_ui_db)}

    async def _form(
        self, db: AsyncSession, user: UiUser, rule: AccessRule, values: dict[str, Any], errors: dict[str, str]
    ) -> Template:
        async with db.begin():
            places = await rule_places(db, user.principal.tenant_id)
        context = user.context(rule=rule, rule_values=values, rule_errors=errors, section="people",
                               back=_owner_page(rule.person_id, rule.group_id), **places)  # fmt: skip
        return Template("people/rule.html", context=context, status_code=400 if errors else 200)

    @get("/{rule_id:uuid}/edit")
    async def edit_rule(self, db: AsyncSession, user: UiUser, rule_id: uuid.UUID) -> Template:
        async with db.begin():
            rule = await policies.get_rule(db, user.principal.tenant_id, rule_id)
        return await self._form(db, user, rule, rule_values_of(rule), {})

    @post("/{rule_id:uuid}/edit")
    async def update_rule(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, rule_id: uuid.UUID
    ) -> Template | Redirect:
        user.require("people.write", db)
        values = rule_form_values(form_values(await request.form(), lists=RULE_LISTS))
        try:
            async with db.begin():
                rule = await policies.get_rule(db, user.principal.tenant_id, rule_id)
                owner = {"person_id": str(rule.person_id)} if rule.person_id else {"group_id": str(rule.group_id)}
                rule = await policies.update_rule(db, user.principal.tenant_id, rule_id, parse_rule(values, owner))
                target = _owner_page(rule.person_id, rule.group_id)
        except (FormErrors, InvalidInput) as invalid:
            async with db.begin():
                rule = await policies.get_rule(db, user.principal.tenant_id, rule_id)
            return await self._form(db, user, rule, values, rule_errors(invalid))
        return Redirect(target)

    @post("/{rule_id:uuid}/delete")
    async def delete_rule(self, db: AsyncSession, user: UiUser, rule_id: uuid.UUID) -> Redirect:
        user.require("people.write", db)
        async with db.begin():
            rule = await policies.get_rule(db, user.principal.tenant_id, rule_id)
            target = _owner_page(rule.person_id, rule.group_id)
            await policies.delete_rule(db, user.principal.tenant_id, rule_id)
        return Redirect(target)
