"""Access rules as admins write them: checked on the way in, so the decision never meets a bad one."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.access.models import AccessRule
from cpo.access.rules import Window, WindowError
from cpo.access.schemas import RuleIn
from cpo.db.queries import get_scoped
from cpo.errors import InvalidInput
from cpo.outbox.service import emit
from cpo.people import service as people
from cpo.sites.models import Evse, Site

RULE_CHANGED = "access_rule.changed"


async def get_rule(session: AsyncSession, tenant_id: uuid.UUID, rule_id: uuid.UUID) -> AccessRule:
    return await get_scoped(session, AccessRule, tenant_id, rule_id, "access rule")


async def _apply(session: AsyncSession, rule: AccessRule, data: RuleIn) -> None:
    tenant_id = rule.tenant_id
    if (data.person_id is None) == (data.group_id is None):
        raise InvalidInput("person_id", "a rule is for one person or for one group: give exactly one of the two")
    if data.person_id is not None:
        await people.get_person(session, tenant_id, data.person_id)
    if data.group_id is not None:
        await people.get_group(session, tenant_id, data.group_id)
    windows = []
    for index, text in enumerate(data.windows):
        try:
            windows.append(Window.parse(text).to_text())
        except WindowError as error:
            raise InvalidInput(f"windows[{index}]", str(error)) from None
    # NaN and the infinities decode as Decimals too; comparing a NaN raises instead of answering.
    quota = data.monthly_kwh_quota
    if quota is not None and not (quota.is_finite() and 0 <= quota < 10**9):
        raise InvalidInput("monthly_kwh_quota", "a number of kWh, zero or more")
    if data.valid_from and data.valid_until and data.valid_until < data.valid_from:
        raise InvalidInput("valid_until", "is before valid_from")
    for field, model, ids in (("site_ids", Site, data.site_ids), ("evse_ids", Evse, data.evse_ids)):
        if ids:
            found = set((await session.execute(
                select(model.id).where(model.tenant_id == tenant_id, model.id.in_(ids))
            )).scalars())  # fmt: skip
            if missing := set(ids) - found:
                raise InvalidInput(field, f"not in this tenant: {', '.join(sorted(map(str, missing)))}")
    rule.name, rule.person_id, rule.group_id = data.name, data.person_id, data.group_id
    rule.site_ids = sorted(set(data.site_ids)) if data.site_ids is not None else None
    rule.evse_ids = sorted(set(data.evse_ids)) if data.evse_ids is not None else None
    rule.windows, rule.valid_from, rule.valid_until = windows, data.valid_from, data.valid_until
    rule.monthly_kwh_quota = data.monthly_kwh_quota


async def create_rule(session: AsyncSession, tenant_id: uuid.UUID, data: RuleIn) -> AccessRule:
    rule = AccessRule(id=uuid.uuid4(), tenant_id=tenant_id)
    await _apply(session, rule, data)
    session.add(rule)
    await session.flush()
    await emit(session, RULE_CHANGED, {"id": rule.id}, tenant_id)
    return rule


async def update_rule(session: AsyncSession, tenant_id: uuid.UUID, rule_id: uuid.UUID, data: RuleIn) -> AccessRule:
    rule = await get_rule(session, tenant_id, rule_id)
    await _apply(session, rule, data)
    await session.flush()
    await emit(session, RULE_CHANGED, {"id": rule.id}, tenant_id)
    return rule


async def delete_rule(session: AsyncSession, tenant_id: uuid.UUID, rule_id: uuid.UUID) -> None:
    await session.delete(await get_rule(session, tenant_id, rule_id))
    await session.flush()
    await emit(session, RULE_CHANGED, {"id": rule_id, "deleted": True}, tenant_id)


async def list_rules(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID | None = None, group_id: uuid.UUID | None = None
) -> list[AccessRule]:
    query = select(AccessRule).where(AccessRule.tenant_id == tenant_id)
    owners = [column == value for column, value in ((AccessRule.person_id, person_id), (AccessRule.group_id, group_id))
              if value is not None]  # fmt: skip
    if owners:
        query = query.where(or_(*owners))
    return list((await session.execute(query.order_by(AccessRule.name, AccessRule.id))).scalars())
