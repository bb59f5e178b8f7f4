"""People in the UI: the list, a person's page (badges, rules, groups, recent sessions), and one's own page."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.access import badges, policies
from cpo.access.schemas import BadgeIn
from cpo.charging.models import ChargingSession
from cpo.errors import Conflict, InvalidInput
from cpo.people import gdpr
from cpo.people import service as people
from cpo.people.imports import import_people
from cpo.people.models import Group, Person
from cpo.people.schemas import GroupIn, PersonIn
from cpo.web.ui.access_pages import RULE_LISTS, parse_rule, rule_errors, rule_form_values, rule_places
from cpo.web.ui.forms import FormErrors, errors_of, form_values, parse_form
from cpo.web.ui.session import UiUser, provide_ui_db, ui_user_needing

RECENT = 20


async def _sessions_of(db: AsyncSession, person_id: uuid.UUID) -> list[ChargingSession]:
    query = (
        select(ChargingSession)
        .where(ChargingSession.person_id == person_id)
        .order_by(ChargingSession.started_at.desc())
        .limit(RECENT)
    )
    return list((await db.execute(query)).scalars())


async def _person_context(db: AsyncSession, person: Person) -> dict[str, Any]:
    group_ids = [person.department_id, person.cost_centre_id, *await people.group_ids_of(db, person.id)]
    groups = (await db.execute(select(Group).where(Group.id.in_([g for g in group_ids if g])))).scalars().all()
    return {
        "person": person,
        "groups": sorted(groups, key=lambda g: (g.kind, g.name)),
        "badges": await badges.list_badges(db, person.tenant_id, person.id),
        "rules": await policies.list_rules(db, person.tenant_id, person_id=person.id),
        "sessions": await _sessions_of(db, person.id),
    }


def _options(groups: list[Group]) -> dict[str, list[tuple[str, str]]]:
    """Select options per group kind: (id, name)."""
    options: dict[str, list[tuple[str, str]]] = {"department": [], "cost_centre": [], "customer_project": []}
    for group in groups:
        options[group.kind].append((str(group.id), group.name))
    return options


class PeoplePages(Controller):
    path = "/people"
    dependencies = {"user": ui_user_needing("people.read"), "db": Provide(provide_ui_db)}

    @get("/")
    async def list_people(self, db: AsyncSession, user: UiUser) -> Template:
        async with db.begin():
            rows = await people.list_people(db, user.principal.tenant_id)
            groups = {g.id: g for g in await people.list_groups(db, user.principal.tenant_id)}
        return Template("people/list.html", context=user.context(people=rows, groups=groups, section="people"))

    @get("/new")
    async def new_person(self, db: AsyncSession, user: UiUser) -> Template:
        user.require("people.write")
        async with db.begin():
            groups = await people.list_groups(db, user.principal.tenant_id)
        return Template("people/form.html", context=user.context(values={}, errors={}, options=_options(groups)))

    @post("/new")
    async def create_person(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser
    ) -> Template | Redirect:
        user.require("people.write", db)
        values = form_values(await request.form())
        try:
            data = parse_form(values, PersonIn)
            async with db.begin():
                person = await people.create_person(db, user.principal.tenant_id, data)
        except (FormErrors, InvalidInput, Conflict) as invalid:
            errors = errors_of(invalid)
            async with db.begin():
                groups = await people.list_groups(db, user.principal.tenant_id)
            context = user.context(values=values, errors=errors, options=_options(groups))
            return Template("people/form.html", context=context, status_code=400)
        return Redirect(f"/ui/people/{person.id}")

    @get("/import")
    async def import_form(self, user: UiUser) -> Template:
        user.require("people.write")
        return Template("people/import.html", context=user.context(report=None, text="", errors={}, section="people"))

    @post("/import")
    async def run_import(self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser) -> Template:
        """A CSV from HR: by default a dry run that reports what would change; then the same text, applied."""
        user.require("people.write", db)
        form = await request.form()
        upload, pasted = form.get("file"), form.get("csv")
        if isinstance(upload, UploadFile) and upload.filename:
            text = (await upload.read()).decode("utf-8-sig", errors="replace")
        else:
            text = pasted if isinstance(pasted, str) else ""
        dry_run = form.get("apply") != "yes"
        try:
            async with db.begin():
                report = await import_people(db, user.principal.tenant_id, text, dry_run)
        except InvalidInput as invalid:
            context = user.context(report=None, text=text, errors=errors_of(invalid), section="people")
            return Template("people/import.html", context=context, status_code=400)
        return Template(
            "people/import.html", context=user.context(report=report, text=text, errors={}, section="people")
        )

    @get("/{person_id:uuid}")
    async def person_page(self, db: AsyncSession, user: UiUser, person_id: uuid.UUID) -> Template:
        return await self._page(db, user, person_id)

    @get("/{person_id:uuid}/edit")
    async def edit_person(self, db: AsyncSession, user: UiUser, person_id: uuid.UUID) -> Template:
        user.require("people.write")
        async with db.begin():
            person = await people.get_person(db, user.principal.tenant_id, person_id)
            groups = await people.list_groups(db, user.principal.tenant_id)
        values = {name: str(getattr(person, name) or "") for name in
                  ("name", "email", "kind", "language", "status", "department_id", "cost_centre_id")}  # fmt: skip
        return Template("people/form.html", context=user.context(values=values, errors={}, options=_options(groups),
                                                                  person=person))  # fmt: skip

    @post("/{person_id:uuid}/edit")
    async def update_person(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, person_id: uuid.UUID
    ) -> Template | Redirect:
        user.require("people.write", db)
        values = form_values(await request.form())
        try:
            async with db.begin():
                person = await people.get_person(db, user.principal.tenant_id, person_id)
                data = parse_form(values | {"user_name": person.user_name, "external_id": person.external_id}, PersonIn)
                data.group_ids = await people.group_ids_of(db, person_id)
                await people.update_person(db, user.principal.tenant_id, person_id, data)
        except (FormErrors, InvalidInput, Conflict) as invalid:
            errors = errors_of(invalid)
            async with db.begin():
                person = await people.get_person(db, user.principal.tenant_id, person_id)
                groups = await people.list_groups(db, user.principal.tenant_id)
            context = user.context(values=values, errors=errors, options=_options(groups), person=person)
            return Template("people/form.html", context=context, status_code=400)
        return Redirect(f"/ui/people/{person_id}")

    async def _page(
        self, db: AsyncSession, user: UiUser, person_id: uuid.UUID,
        rule_errors: dict[str, str] | None = None, rule_values: dict[str, Any] | None = None,
        badge_errors: dict[str, str] | None = None,
    ) -> Template:  # fmt: skip
        async with db.begin():
            person = await people.get_person(db, user.principal.tenant_id, person_id)
            context = await _person_context(db, person)
            context |= await rule_places(db, user.principal.tenant_id)
        failed = bool(rule_errors or badge_errors)
        context |= {
            "rule_errors": rule_errors or {},
            "rule_values": rule_values or {},
            "badge_errors": badge_errors or {},
        }
        return Template("people/person.html", context=user.context(**context, section="people"),
                        status_code=400 if failed else 200)  # fmt: skip

    @post("/{person_id:uuid}/badges")
    async def add_badge(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, person_id: uuid.UUID
    ) -> Template | Redirect:
        user.require("people.write", db)
        values = form_values(await request.form())
        try:
            data = parse_form(values | {"person_id": str(person_id)}, BadgeIn)
            async with db.begin():
                await badges.create_badge(db, user.principal.tenant_id, data)
        except (FormErrors, InvalidInput, Conflict) as invalid:
            return await self._page(db, user, person_id, badge_errors=errors_of(invalid))
        return Redirect(f"/ui/people/{person_id}")

    @post("/{person_id:uuid}/rules")
    async def add_rule(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, person_id: uuid.UUID
    ) -> Template | Redirect:
        user.require("people.write", db)
        values = rule_form_values(form_values(await request.form(), lists=RULE_LISTS))
        try:
            data = parse_rule(values, {"person_id": str(person_id)})
            async with db.begin():
                await policies.create_rule(db, user.principal.tenant_id, data)
        except (FormErrors, InvalidInput) as invalid:
            return await self._page(db, user, person_id, rule_errors(invalid), values)
        return Redirect(f"/ui/people/{person_id}")

    @post("/{person_id:uuid}/status")
    async def change_status(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, person_id: uuid.UUID
    ) -> Redirect:
        user.require("people.write", db)
        action = str((await request.form()).get("action", ""))
        status = {"block": "blocked", "deactivate": "inactive", "activate": "active"}.get(action)
        if status is not None:
            async with db.begin():
                await people.set_person_status(db, user.principal.tenant_id, person_id, status)
        return Redirect(f"/ui/people/{person_id}")

    @post("/badges/{badge_id:uuid}/status")
    async def change_badge(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, badge_id: uuid.UUID
    ) -> Redirect:
        user.require("people.write", db)
        block = (await request.form()).get("action") == "block"
        async with db.begin():
            badge = await badges.set_badge_status(
                db, user.principal.tenant_id, badge_id, "blocked" if block else "active"
            )
        return Redirect(f"/ui/people/{badge.person_id}" if badge.person_id else "/ui/people")

    @get("/{person_id:uuid}/personal-data")
    async def export_person(self, db: AsyncSession, user: UiUser, person_id: uuid.UUID) -> Response[Any]:
        """Everything held about the person, as a JSON download (GDPR Art. 15 and 20)."""
        async with db.begin():
            data = await gdpr.export_person(db, user.principal.tenant_id, person_id)
        headers = {"Content-Disposition": f'attachment; filename="person-{person_id}.json"'}
        return Response(data, media_type="application/json", headers=headers)

    @post("/{person_id:uuid}/erase")
    async def erase_person(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, person_id: uuid.UUID
    ) -> Redirect:
        """Erase the person (GDPR Art. 17), once the admin typed ERASE to confirm."""
        user.require("people.write", db)
        if str((await request.form()).get("confirm", "")).strip().upper() != "ERASE":
            raise InvalidInput("confirm", "type ERASE to confirm")
        async with db.begin():
            await gdpr.erase_person(db, user.principal.tenant_id, person_id, user.principal.actor)
        return Redirect(f"/ui/people/{person_id}")


class GroupPages(Controller):
    """Departments, cost centres and customer projects."""

    path = "/groups"
    dependencies = {"user": ui_user_needing("people.read"), "db": Provide(provide_ui_db)}

    @get("/")
    async def groups(self, db: AsyncSession, user: UiUser) -> Template:
        async with db.begin():
            rows = await people.list_groups(db, user.principal.tenant_id)
        return Template("people/groups.html", context=user.context(groups=rows, values={}, errors={}, section="people"))

    @post("/")
    async def create_group(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser
    ) -> Template | Redirect:
        user.require("people.write", db)
        values = form_values(await request.form())
        try:
            data = parse_form(values, GroupIn)
            async with db.begin():
                await people.create_group(db, user.principal.tenant_id, data)
        except (FormErrors, Conflict) as invalid:
            errors = errors_of(invalid)
            async with db.begin():
                rows = await people.list_groups(db, user.principal.tenant_id)
            context = user.context(groups=rows, values=values, errors=errors, section="people")
            return Template("people/groups.html", context=context, status_code=400)
        return Redirect("/ui/groups")

    async def _group_page(
        self, db: AsyncSession, user: UiUser, group_id: uuid.UUID,
        rule_errors: dict[str, str] | None = None, rule_values: dict[str, Any] | None = None,
    ) -> Template:  # fmt: skip
        tenant_id = user.principal.tenant_id
        async with db.begin():
            context = {
                "group": await people.get_group(db, tenant_id, group_id),
                "members": await people.members_of(db, tenant_id, group_id),
                "rules": await policies.list_rules(db, tenant_id, group_id=group_id),
                **await rule_places(db, tenant_id),
                "rule_errors": rule_errors or {},
                "rule_values": rule_values or {},
                "section": "people",
            }
        return Template("people/group.html", context=user.context(**context), status_code=400 if rule_errors else 200)

    @get("/{group_id:uuid}")
    async def group_page(self, db: AsyncSession, user: UiUser, group_id: uuid.UUID) -> Template:
        return await self._group_page(db, user, group_id)

    @post("/{group_id:uuid}/rules")
    async def add_rule(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, group_id: uuid.UUID
    ) -> Template | Redirect:
        """A rule for everyone in the group (its department, cost centre or project members)."""
        user.require("people.write", db)
        values = rule_form_values(form_values(await request.form(), lists=RULE_LISTS))
        try:
            data = parse_rule(values, {"group_id": str(group_id)})
            async with db.begin():
                await policies.create_rule(db, user.principal.tenant_id, data)
        except (FormErrors, InvalidInput) as invalid:
            return await self._group_page(db, user, group_id, rule_errors(invalid), values)
        return Redirect(f"/ui/groups/{group_id}")


class MePages(Controller):
    """An employee's own page: their badges and their sessions, nothing of anyone else."""

    path = "/me"
    dependencies = {"user": ui_user_needing("self.read"), "db": Provide(provide_ui_db)}

    @get("/")
    async def me(self, db: AsyncSession, user: UiUser) -> Template:
        person_id = user.principal.person_id
        context: dict[str, Any] = {"person": None, "section": "me"}
        if person_id is not None:
            async with db.begin():
                person = await db.get(Person, person_id)
                if person is not None and person.tenant_id == user.principal.tenant_id:
                    context |= await _person_context(db, person)
        return Template("people/me.html", context=user.context(**context))
