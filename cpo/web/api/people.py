"""People, groups, badges and access rules over the admin API. Convert, call one service, convert back."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Literal

from litestar import Controller, Request, delete, get, post, put
from litestar.datastructures import State
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.access import badges, policies
from cpo.access.schemas import BadgeIn, BadgeOut, BlockIn, RuleIn, RuleOut, badge_out, rule_out
from cpo.accounts.roles import Principal
from cpo.charging.commands import ChargerCommands, Command
from cpo.people import gdpr
from cpo.people import service as people
from cpo.people.imports import import_people
from cpo.people.schemas import GroupIn, GroupOut, PersonIn, PersonOut, group_out, person_out
from cpo.web.deps import guarded


async def _stop_all(state: State, running: list[tuple[uuid.UUID, str]], actor: str) -> None:
    """Stop sessions on their stations (after the block is committed, so a restart cannot undo it)."""
    commands: ChargerCommands = state.commands
    await asyncio.gather(
        *(commands.send(station, Command("remote_stop", {"transaction_id": tx}), actor) for station, tx in running)
    )


class PersonController(Controller):
    path = "/people"
    tags = ["people"]
    dependencies = {"principal": guarded("people")}

    @get("/")
    async def list_people(
        self, db: AsyncSession, principal: Principal, user_name: str | None = None
    ) -> list[PersonOut]:
        async with db.begin():
            found = await people.list_people(db, principal.tenant_id, user_name)
            return [person_out(p, await people.group_ids_of(db, p.id)) for p in found]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_person(self, db: AsyncSession, principal: Principal, data: PersonIn) -> PersonOut:
        async with db.begin():
            person = await people.create_person(db, principal.tenant_id, data)
            return person_out(person, await people.group_ids_of(db, person.id))

    @get("/{person_id:uuid}")
    async def get_person(self, db: AsyncSession, principal: Principal, person_id: uuid.UUID) -> PersonOut:
        async with db.begin():
            person = await people.get_person(db, principal.tenant_id, person_id)
            return person_out(person, await people.group_ids_of(db, person.id))

    @put("/{person_id:uuid}")
    async def update_person(
        self, db: AsyncSession, principal: Principal, person_id: uuid.UUID, data: PersonIn
    ) -> PersonOut:
        async with db.begin():
            person = await people.update_person(db, principal.tenant_id, person_id, data)
            return person_out(person, await people.group_ids_of(db, person.id))

    @get("/{person_id:uuid}/personal-data")
    async def export_person(self, db: AsyncSession, principal: Principal, person_id: uuid.UUID) -> dict[str, Any]:
        """Everything held about the person (GDPR Art. 15 and 20), as one JSON document."""
        async with db.begin():
            return await gdpr.export_person(db, principal.tenant_id, person_id)

    @delete("/{person_id:uuid}/personal-data", status_code=HTTP_200_OK)
    async def erase_person(self, db: AsyncSession, principal: Principal, person_id: uuid.UUID) -> dict[str, int]:
        """Erase the person (GDPR Art. 17): personal data pseudonymised, sessions kept and unlinked."""
        async with db.begin():
            return await gdpr.erase_person(db, principal.tenant_id, person_id, principal.actor)

    @post("/{person_id:uuid}/{action:str}", status_code=HTTP_200_OK)
    async def change_status(
        self,
        db: AsyncSession,
        principal: Principal,
        state: State,
        person_id: uuid.UUID,
        action: Literal["block", "deactivate", "activate"],
        data: BlockIn | None = None,
    ) -> PersonOut:
        """Block, deactivate or activate someone: the next Authorize anywhere sees it."""
        status = {"block": "blocked", "deactivate": "inactive", "activate": "active"}[action]
        async with db.begin():
            person = await people.set_person_status(db, principal.tenant_id, person_id, status)
            held = [b.id for b in await badges.list_badges(db, principal.tenant_id, person_id)]
            running = await badges.running_transactions(db, principal.tenant_id, held)
            out = person_out(person, await people.group_ids_of(db, person.id))
        if data is not None and data.stop_sessions and status != "active":
            await _stop_all(state, running, principal.actor)
        return out


class PeopleImportOut(Struct):
    dry_run: bool
    created: list[str]
    updated: list[dict[str, Any]]
    unchanged: list[str]
    groups_created: list[str]
    refused: list[dict[str, Any]]


class PeopleImportController(Controller):
    path = "/people-import"
    tags = ["people"]
    dependencies = {"principal": guarded("people")}

    @post("/", status_code=HTTP_200_OK)
    async def import_people(
        self, request: Request[Any, Any, Any], db: AsyncSession, principal: Principal, dry_run: bool = True
    ) -> PeopleImportOut:
        """People from a CSV body (an HR export). By default a dry run: what would change, nothing changed."""
        text = (await request.body()).decode("utf-8-sig", errors="replace")
        async with db.begin():
            report = await import_people(db, principal.tenant_id, text, dry_run)
        return PeopleImportOut(
            report.dry_run, report.created, [{"user_name": u, "fields": f} for u, f in report.updated],
            report.unchanged, report.groups_created, [{"line": n, "reason": r} for n, r in report.refused],
        )  # fmt: skip


class GroupController(Controller):
    path = "/groups"
    tags = ["people"]
    dependencies = {"principal": guarded("people")}

    @get("/")
    async def list_groups(
        self,
        db: AsyncSession,
        principal: Principal,
        kind: Literal["department", "cost_centre", "customer_project"] | None = None,
    ) -> list[GroupOut]:
        async with db.begin():
            return [group_out(g) for g in await people.list_groups(db, principal.tenant_id, kind)]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_group(self, db: AsyncSession, principal: Principal, data: GroupIn) -> GroupOut:
        async with db.begin():
            return group_out(await people.create_group(db, principal.tenant_id, data))

    @put("/{group_id:uuid}")
    async def update_group(
        self, db: AsyncSession, principal: Principal, group_id: uuid.UUID, data: GroupIn
    ) -> GroupOut:
        async with db.begin():
            return group_out(await people.update_group(db, principal.tenant_id, group_id, data))


class BadgeController(Controller):
    path = "/badges"
    tags = ["people"]
    dependencies = {"principal": guarded("people")}

    @get("/")
    async def list_badges(
        self, db: AsyncSession, principal: Principal, person_id: uuid.UUID | None = None
    ) -> list[BadgeOut]:
        async with db.begin():
            return [badge_out(b) for b in await badges.list_badges(db, principal.tenant_id, person_id)]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_badge(self, db: AsyncSession, principal: Principal, data: BadgeIn) -> BadgeOut:
        async with db.begin():
            return badge_out(await badges.create_badge(db, principal.tenant_id, data))

    @get("/{badge_id:uuid}")
    async def get_badge(self, db: AsyncSession, principal: Principal, badge_id: uuid.UUID) -> BadgeOut:
        async with db.begin():
            return badge_out(await badges.get_badge(db, principal.tenant_id, badge_id))

    @put("/{badge_id:uuid}")
    async def update_badge(
        self, db: AsyncSession, principal: Principal, badge_id: uuid.UUID, data: BadgeIn
    ) -> BadgeOut:
        async with db.begin():
            return badge_out(await badges.update_badge(db, principal.tenant_id, badge_id, data))

    @post("/{badge_id:uuid}/{action:str}", status_code=HTTP_200_OK)
    async def change_status(
        self,
        db: AsyncSession,
        principal: Principal,
        state: State,
        badge_id: uuid.UUID,
        action: Literal["block", "unblock"],
        data: BlockIn | None = None,
    ) -> BadgeOut:
        """Block or unblock a badge: the next Authorize at every station sees it; stations' lists follow."""
        async with db.begin():
            badge = await badges.set_badge_status(
                db, principal.tenant_id, badge_id, "blocked" if action == "block" else "active"
            )
            running = await badges.running_transactions(db, principal.tenant_id, [badge.id])
            out = badge_out(badge)
        if data is not None and data.stop_sessions and action == "block":
            await _stop_all(state, running, principal.actor)
        return out

    @delete("/{badge_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_badge(self, db: AsyncSession, principal: Principal, badge_id: uuid.UUID) -> None:
        async with db.begin():
            await badges.delete_badge(db, principal.tenant_id, badge_id)


class AccessRuleController(Controller):
    path = "/access-rules"
    tags = ["people"]
    dependencies = {"principal": guarded("people")}

    @get("/")
    async def list_rules(
        self,
        db: AsyncSession,
        principal: Principal,
        person_id: uuid.UUID | None = None,
        group_id: uuid.UUID | None = None,
    ) -> list[RuleOut]:
        async with db.begin():
            return [rule_out(r) for r in await policies.list_rules(db, principal.tenant_id, person_id, group_id)]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_rule(self, db: AsyncSession, principal: Principal, data: RuleIn) -> RuleOut:
        async with db.begin():
            return rule_out(await policies.create_rule(db, principal.tenant_id, data))

    @get("/{rule_id:uuid}")
    async def get_rule(self, db: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RuleOut:
        async with db.begin():
            return rule_out(await policies.get_rule(db, principal.tenant_id, rule_id))

    @put("/{rule_id:uuid}")
    async def update_rule(self, db: AsyncSession, principal: Principal, rule_id: uuid.UUID, data: RuleIn) -> RuleOut:
        async with db.begin():
            return rule_out(await policies.update_rule(db, principal.tenant_id, rule_id, data))

    @delete("/{rule_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_rule(self, db: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
        async with db.begin():
            await policies.delete_rule(db, principal.tenant_id, rule_id)
