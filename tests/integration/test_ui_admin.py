"""The UI's administration pages: settings, accounts, API tokens, people import, editing badges and rules."""

from __future__ import annotations

import re
import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.access.models import AccessRule, Badge
from cpo.accounts.models import Account
from cpo.people.models import Person
from cpo.sites.models import Site, Station
from cpo.tenants.models import Tenant
from tests.conftest import ADMIN_PASSWORD
from tests.integration.test_ui import SITE_FORM, csrf_of, login_csrf, sign_in

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]


def path_of(response: object) -> str:
    url = str(response.url)  # type: ignore[attr-defined]
    return url[url.index("/ui/") :]


async def new_person(client: Client, csrf: str, name: str, email: str) -> str:
    made = await client.post("/ui/people/new", data={"csrf": csrf, "name": name, "email": email})
    assert made.status_code == 200, made.text
    return path_of(made)


async def test_an_admin_creates_accounts_with_their_scope_and_turns_them_off(
    client: Client, ui_admin: str, sessions: Sessions
) -> None:
    csrf = await sign_in(client, ui_admin)
    for name in ("Depot A", "Depot B"):
        await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf, "name": name})
    page = await client.get("/ui/settings")
    assert page.status_code == 200 and "Ada Admin" in page.text
    depot_a = re.search(r'name="site_ids" value="([0-9a-f-]{36})"> Depot A', page.text)
    assert depot_a is not None
    account = {"csrf": csrf, "name": "Sara Site", "email": "sara@example.com", "password": ADMIN_PASSWORD,
               "role": "site_manager", "language": "en"}  # fmt: skip

    no_sites = await client.post("/ui/settings/accounts", data=account)
    assert no_sites.status_code == 400 and "a site manager needs the sites they manage" in no_sites.text
    assert ADMIN_PASSWORD not in no_sites.text  # the password is not sent back
    short = await client.post("/ui/settings/accounts", data=account | {"password": "short", "site_ids": depot_a[1]})
    assert short.status_code == 400 and "at least 10 characters" in short.text
    too_high = await client.post("/ui/settings/accounts", data=account | {"role": "platform_admin"})
    assert too_high.status_code == 400 and "not a role you may give" in too_high.text
    made = await client.post("/ui/settings/accounts", data=account | {"site_ids": depot_a[1]})
    assert made.status_code == 200 and "sara@example.com" in made.text
    twice = await client.post("/ui/settings/accounts", data=account | {"site_ids": depot_a[1]})
    assert twice.status_code == 400 and "an account with this e-mail exists" in twice.text
    async with sessions() as session:
        sara = (await session.execute(select(Account).where(Account.email == "sara@example.com"))).scalar_one()
        assert sara.role == "site_manager" and [str(s) for s in sara.site_ids or []] == [depot_a[1]]
        assert await session.scalar(select(func.count()).select_from(Account)) == 2
    await client.post("/ui/logout", data={"csrf": csrf})

    # the new site manager signs in and sees their site only, and no settings
    sara_csrf = await sign_in(client, "sara@example.com")
    listing = (await client.get("/ui/sites")).text
    assert "Depot A" in listing and "Depot B" not in listing
    assert (await client.get("/ui/settings")).status_code == 403
    sara_cookie = client.cookies.get("cpo_session")
    await client.post("/ui/logout", data={"csrf": sara_csrf})

    # the admin turns her off: her signed-in browser is out at once, and she cannot sign in again
    csrf = await sign_in(client, ui_admin)
    off = await client.post(f"/ui/settings/accounts/{sara.id}/active", data={"csrf": csrf, "action": "deactivate"})
    assert off.status_code == 200 and "Turned off" in off.text
    admin_id = (await client.get("/ui/settings")).text
    own = re.search(r"/ui/settings/accounts/([0-9a-f-]{36})/active", admin_id)
    assert own is not None and own[1] == str(sara.id)  # no switch for the admin's own account
    async with sessions() as session:
        me = (await session.execute(select(Account).where(Account.email == ui_admin))).scalar_one()
    self_off = await client.post(f"/ui/settings/accounts/{me.id}/active", data={"csrf": csrf, "action": "deactivate"})
    assert self_off.status_code == 400 and "your own account" in self_off.text
    admin_cookie = client.cookies.get("cpo_session")
    client.cookies.set("cpo_session", sara_cookie or "")
    assert "/ui/login" in str((await client.get("/ui/sites")).url)
    client.cookies.set("cpo_session", admin_cookie or "")
    await client.post("/ui/logout", data={"csrf": csrf})
    data = {"email": "sara@example.com", "password": ADMIN_PASSWORD, "csrf": await login_csrf(client)}
    assert (await client.post("/ui/login", data=data)).status_code == 401


async def test_an_employee_account_linked_to_a_person_sees_only_that_person(
    client: Client, ui_admin: str, sessions: Sessions
) -> None:
    csrf = await sign_in(client, ui_admin)
    lies = await new_person(client, csrf, "Lies Wouters", "lies@example.com")
    await client.post(f"{lies}/badges", data={"csrf": csrf, "uid": "11223344", "token_type": "ISO14443"})
    noor = await new_person(client, csrf, "Noor Jacobs", "noor@example.com")
    await client.post(f"{noor}/badges", data={"csrf": csrf, "uid": "55667788", "token_type": "ISO14443"})
    made = await client.post("/ui/settings/accounts", data={
        "csrf": csrf, "name": "Lies", "email": "lies@example.com", "password": ADMIN_PASSWORD, "role": "employee",
        "language": "nl", "person_id": lies.rsplit("/", 1)[1],
    })  # fmt: skip
    assert made.status_code == 200
    wrong_person = await client.post("/ui/settings/accounts", data={
        "csrf": csrf, "name": "X", "email": "x@example.com", "password": ADMIN_PASSWORD, "role": "employee",
        "person_id": str(uuid.uuid4()),
    })  # fmt: skip
    assert wrong_person.status_code == 400 and "person" in wrong_person.text
    await client.post("/ui/logout", data={"csrf": csrf})
    data = {"email": "lies@example.com", "password": ADMIN_PASSWORD, "next": "/ui/", "csrf": await login_csrf(client)}
    home = await client.post("/ui/login", data=data)
    assert str(home.url).endswith("/ui/me") and "11223344" in home.text and "55667788" not in home.text


async def test_tenant_settings_are_saved_and_bad_values_change_nothing(
    client: Client, ui_admin: str, sessions: Sessions
) -> None:
    csrf = await sign_in(client, ui_admin)
    saved = await client.post("/ui/settings/tenant", data={
        "csrf": csrf, "one_session_per_badge": "on", "meter_sample_retention_days": "90", "event_retention_days": "30",
        "operator_details": "Laadpunt BV, Dam 1, Amsterdam, VAT NL000000000B01", "payment_hold": "25,00",
    })  # fmt: skip
    assert saved.status_code == 200
    bad = await client.post("/ui/settings/tenant", data={"csrf": csrf, "meter_sample_retention_days": "0"})
    assert bad.status_code == 400 and "meter_sample_retention_days" in bad.text
    for hold in ("0.50", "2000", "12.345", "lots"):
        refused = await client.post("/ui/settings/tenant", data={"csrf": csrf, "payment_hold": hold})
        assert refused.status_code == 400, hold
    async with sessions() as session:
        tenant = (await session.execute(select(Tenant))).scalar_one()
        assert tenant.one_session_per_badge and not tenant.auto_register_stations
        assert (tenant.meter_sample_retention_days, tenant.event_retention_days) == (90, 30)
        assert (tenant.payment_hold_minor, tenant.operator_details) == (
            2500,
            "Laadpunt BV, Dam 1, Amsterdam, VAT NL000000000B01",
        )
    # an empty retention field keeps data for good; an unticked box turns the option off
    cleared = await client.post("/ui/settings/tenant", data={"csrf": csrf, "event_retention_days": "30"})
    assert cleared.status_code == 200
    async with sessions() as session:
        tenant = (await session.execute(select(Tenant))).scalar_one()
        assert not tenant.one_session_per_badge and tenant.meter_sample_retention_days is None


async def test_api_tokens_are_made_shown_once_used_and_revoked_from_the_ui(client: Client, ui_admin: str) -> None:
    csrf = await sign_in(client, ui_admin)
    no_sites = await client.post("/ui/settings/tokens", data={"csrf": csrf, "name": "depot", "role": "site_manager"})
    assert no_sites.status_code == 400 and "a site manager needs the sites they manage" in no_sites.text
    past = await client.post("/ui/settings/tokens", data={"csrf": csrf, "name": "hr", "role": "scim",
                                                          "expires_at": "2020-01-01"})  # fmt: skip
    assert past.status_code == 400 and "must be a future time" in past.text
    made = await client.post("/ui/settings/tokens", data={"csrf": csrf, "name": "Personio", "role": "scim"})
    token = re.search(r"<code>(cpo_[A-Za-z0-9_-]+)</code>", made.text)
    assert made.status_code == 201 and token is not None
    assert token[1] not in (await client.get("/ui/settings")).text  # shown that once only
    scim = {"Authorization": f"Bearer {token[1]}"}
    assert (await client.get("/scim/v2/Users", headers=scim)).status_code == 200
    page = (await client.get("/ui/settings")).text
    revoke = re.search(r"/ui/settings/tokens/([0-9a-f-]{36})/revoke", page)
    assert revoke is not None
    await client.post(revoke[0], data={"csrf": csrf})
    assert (await client.get("/scim/v2/Users", headers=scim)).status_code == 401


async def test_only_administrators_reach_the_settings(client: Client, ui_admin: str, sessions: Sessions) -> None:
    from cpo.accounts.service import create_account

    async with sessions() as session, session.begin():
        tenant = (await session.execute(select(Tenant))).scalar_one()
        await create_account(session, tenant.id, "hr@example.com", "Hanne HR", ADMIN_PASSWORD, "hr_manager")
    csrf = await sign_in(client, "hr@example.com")
    assert "/ui/settings" not in (await client.get("/ui/people")).text
    assert (await client.get("/ui/settings")).status_code == 403
    forged = await client.post("/ui/settings/tokens", data={"csrf": csrf, "name": "x", "role": "tenant_admin"})
    assert forged.status_code == 403


async def test_people_are_imported_after_a_dry_run_report(client: Client, ui_admin: str, sessions: Sessions) -> None:
    csrf = await sign_in(client, ui_admin)
    text = ("email,name,kind,department,cost_centre\n"
            "an@example.com,An Claes,employee,Sales,CC-100\n"
            "bart@example.com,Bart Maes,visitor,,\n"
            "nobody,Broken Row,employee,,\n")  # fmt: skip
    checked = await client.post(
        "/ui/people/import", data={"csrf": csrf}, files={"file": ("hr.csv", text.encode(), "text/csv")}
    )
    assert checked.status_code == 200, checked.text
    assert "New: 2" in checked.text and "Refused: 1" in checked.text and "Line 4" in checked.text
    assert "department: Sales" in checked.text and "Apply these changes" in checked.text
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 0
    applied = await client.post("/ui/people/import", data={"csrf": csrf, "csv": text, "apply": "yes"})
    assert applied.status_code == 200 and "Imported" in applied.text
    async with sessions() as session:
        names = set((await session.execute(select(Person.name))).scalars())
        assert names == {"An Claes", "Bart Maes"}
    again = await client.post("/ui/people/import", data={"csrf": csrf, "csv": text})
    assert "Unchanged: 2" in again.text and "Apply these changes" not in again.text
    headerless = await client.post("/ui/people/import", data={"csrf": csrf, "csv": "a;b\n1;2\n"})
    assert headerless.status_code == 400 and "a CSV with a header" in headerless.text


async def test_a_badge_is_edited_in_place(client: Client, ui_admin: str, sessions: Sessions) -> None:
    csrf = await sign_in(client, ui_admin)
    person = await new_person(client, csrf, "Els Peeters", "els@example.com")
    page = await client.post(f"{person}/badges", data={"csrf": csrf, "uid": "04a1b2c3", "token_type": "ISO14443"})
    edit = re.search(r"/ui/badges/([0-9a-f-]{36})/edit", page.text)
    assert edit is not None
    form = await client.get(edit[0])
    assert form.status_code == 200 and "04A1B2C3" in form.text
    backwards = await client.post(edit[0], data={"csrf": csrf, "token_type": "ISO14443", "status": "active",
                                                 "valid_from": "2027-02-01", "valid_to": "2027-01-01"})  # fmt: skip
    assert backwards.status_code == 400 and "must be after valid_from" in backwards.text
    saved = await client.post(edit[0], data={
        "csrf": csrf, "token_type": "ISO14443", "status": "active", "label": "Lease car card",
        "valid_from": "2026-01-01", "valid_to": "2027-12-31", "group_uid": "0a:0b:0c:0d",
        "person_id": person.rsplit("/", 1)[1],
    })  # fmt: skip
    assert saved.status_code == 200 and "Lease car card" in saved.text
    async with sessions() as session:
        badge = (await session.execute(select(Badge))).scalar_one()
        assert badge.valid_to is not None and badge.valid_to.isoformat() == "2027-12-31T23:59:59+00:00"
        assert badge.valid_from is not None and badge.valid_from.isoformat() == "2026-01-01T00:00:00+00:00"
        assert badge.group_uid == "0A0B0C0D" and badge.uid == "04A1B2C3" and badge.label == "Lease car card"


async def test_rules_are_edited_in_place_and_given_to_groups(client: Client, ui_admin: str, sessions: Sessions) -> None:
    csrf = await sign_in(client, ui_admin)
    first = await new_person(client, csrf, "Jan Smet", "jan@example.com")
    second = await new_person(client, csrf, "Ilse Smet", "ilse@example.com")
    await client.post(f"{first}/rules", data={"csrf": csrf, "name": "Jan only", "windows": "mon-fri 07:00-19:00"})
    page = await client.post(f"{second}/rules", data={"csrf": csrf, "name": "Ilse hours", "windows": "sat 09:00-12:00"})
    assert "Ilse hours" in page.text and "Jan only" not in page.text  # one person's rules, not everyone's
    edit = re.search(r"/ui/rules/([0-9a-f-]{36})/edit", page.text)
    assert edit is not None
    form = await client.get(edit[0])
    assert form.status_code == 200 and "sat 09:00-12:00" in form.text
    wrong = await client.post(edit[0], data={"csrf": csrf, "name": "Ilse hours",
                                             "windows": "sat 09:00-12:00\nsun 25:00-26:00"})  # fmt: skip
    assert wrong.status_code == 400 and "line 2" in wrong.text
    saved = await client.post(edit[0], data={"csrf": csrf, "name": "Ilse weekend", "windows": "sat-sun 08:00-20:00",
                                             "valid_until": "2027-06-30", "monthly_kwh_quota": "150"})  # fmt: skip
    assert saved.status_code == 200 and path_of(saved) == second and "Ilse weekend" in saved.text
    async with sessions() as session:
        rule = await session.get(AccessRule, uuid.UUID(edit[1]))
        assert rule is not None and rule.windows == ["sat-sun 08:00-20:00"] and rule.monthly_kwh_quota == 150

    # a rule for one charging point, chosen from the tenant's EVSEs (grouped by site)
    from tests.integration.test_ui import SITE_FORM

    await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf})
    async with sessions() as session:
        site = (await session.execute(select(Site))).scalars().first()
    assert site is not None
    await client.post("/ui/stations/new", data={"csrf": csrf, "site_id": str(site.id), "identity": "BAY-01"})
    async with sessions() as session:
        station = (await session.execute(select(Station).where(Station.identity == "BAY-01"))).scalar_one()
    await client.post(f"/ui/stations/{station.id}/evses", data={"csrf": csrf, "ocpp_evse_id": "1",
                                                                 "evse_id": "BE*ABC*EBAY1"})  # fmt: skip
    form = await client.get(edit[0])
    option = re.search(r'<option value="([0-9a-f-]{36})" >BAY-01 · BE\*ABC\*EBAY1</option>', form.text)
    assert option is not None and f'<optgroup label="{site.name}">' in form.text, form.text
    bay = await client.post(edit[0], data={"csrf": csrf, "name": "Ilse weekend", "windows": "sat-sun 08:00-20:00",
                                           "evse_ids": option[1]})  # fmt: skip
    assert bay.status_code == 200 and "1 charging point(s)" in bay.text
    async with sessions() as session:
        rule = await session.get(AccessRule, uuid.UUID(edit[1]))
        assert rule is not None and [str(e) for e in rule.evse_ids or []] == [option[1]]
    again = await client.get(edit[0])
    assert f'<option value="{option[1]}" selected>' in again.text, "the form shows the chosen EVSE"

    group = await client.post("/ui/groups", data={"csrf": csrf, "kind": "department", "name": "Logistics"})
    link = re.search(r'href="(/ui/groups/[0-9a-f-]{36})">Logistics', group.text)
    assert link is not None
    group_page = await client.post(f"{link[1]}/rules", data={"csrf": csrf, "name": "Logistics nights",
                                                             "windows": "mon-fri 22:00-06:00"})  # fmt: skip
    assert group_page.status_code == 200 and "mon-fri 22:00-06:00" in group_page.text
    rule_link = re.search(r"/ui/rules/([0-9a-f-]{36})/delete", group_page.text)
    assert rule_link is not None
    removed = await client.post(rule_link[0], data={"csrf": csrf})
    assert path_of(removed) == link[1] and "Logistics nights" not in removed.text


async def test_a_password_change_signs_out_the_other_browsers(client: Client, ui_admin: str) -> None:
    await sign_in(client, ui_admin)
    elsewhere = client.cookies.get("cpo_session")
    client.cookies.delete("cpo_session")
    csrf = await sign_in(client, ui_admin)
    here = client.cookies.get("cpo_session")
    wrong = await client.post("/ui/account/password", data={"csrf": csrf, "current_password": "guess",
                                                            "new_password": "a new long password"})  # fmt: skip
    assert wrong.status_code == 400 and "is not the current password" in wrong.text
    changed = await client.post("/ui/account/password", data={"csrf": csrf, "current_password": ADMIN_PASSWORD,
                                                              "new_password": "a new long password"})  # fmt: skip
    assert changed.status_code == 200 and "Your password was changed" in changed.text
    client.cookies.set("cpo_session", elsewhere or "")
    assert "/ui/login" in str((await client.get("/ui/sites")).url)
    client.cookies.set("cpo_session", here or "")
    assert (await client.get("/ui/sites")).status_code == 200
    await client.post("/ui/logout", data={"csrf": csrf_of((await client.get("/ui/sites")).text)})
    data = {"email": ui_admin, "password": "a new long password", "csrf": await login_csrf(client)}
    assert (await client.post("/ui/login", data=data)).status_code == 200


async def test_the_site_form_sets_facilities_parking_and_a_home_and_keeps_the_energy_mix(
    client: Client, ui_admin: str, sessions: Sessions
) -> None:
    from tests.integration.test_ui import SITE_FORM

    csrf = await sign_in(client, ui_admin)
    person = (await new_person(client, csrf, "Noor Thuis", "noor@example.com")).rsplit("/", 1)[1]
    made = await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf, "name": "Car park P2",
                             "facilities": ["WIFI", "SUPERMARKET"], "parking_type": "PARKING_GARAGE"})  # fmt: skip
    assert made.status_code == 200, made.text
    async with sessions() as session, session.begin():
        site = (await session.execute(select(Site).where(Site.name == "Car park P2"))).scalar_one()
        assert (site.facilities, site.parking_type) == (["SUPERMARKET", "WIFI"], "PARKING_GARAGE")
        site.energy_mix = {"is_green_energy": True, "energy_sources": [{"source": "WIND", "percentage": 100}]}
    page = await client.get(f"/ui/sites/{site.id}")
    assert 'value="WIFI" checked' in page.text and 'id="energy-mix"' in page.text and "WIND 100%" in page.text
    bad = await client.post(f"/ui/sites/{site.id}", data=SITE_FORM | {"csrf": csrf, "parking_type": "ROOFTOP"})
    assert bad.status_code == 400 and "parking_type" in bad.text
    saved = await client.post(f"/ui/sites/{site.id}", data=SITE_FORM | {
        "csrf": csrf, "name": "Noor's driveway", "facilities": ["WIFI"], "parking_type": "ON_DRIVEWAY",
        "home_person_id": person})  # fmt: skip
    assert saved.status_code == 200, saved.text
    async with sessions() as session:
        site = await session.get(Site, site.id)
        assert site is not None and (site.name, site.facilities, site.parking_type) == (
            "Noor's driveway",
            ["WIFI"],
            "ON_DRIVEWAY",
        )
        assert str(site.home_person_id) == person
        assert site.energy_mix is not None and site.energy_mix["is_green_energy"], "what the form does not show stays"
    again = await client.post(f"/ui/sites/{site.id}", data=SITE_FORM | {"csrf": csrf, "home_person_id": person})
    assert again.status_code == 200
    async with sessions() as session:
        site = await session.get(Site, site.id)
        assert site is not None and str(site.home_person_id) == person and site.facilities == []
