"""The admin UI over HTTP: sign-in, CSRF, forms that validate like the API, both languages."""

from __future__ import annotations

import re
import time

import pyotp
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.sites.models import Site, Station
from tests.conftest import ADMIN_PASSWORD

Client = AsyncTestClient[Litestar]
SITE_FORM = {
    "name": "Depot Zwijnaarde",
    "address": "Technologiepark 1",
    "city": "Gent",
    "country": "BEL",
    "latitude": "51.0104",
    "longitude": "3.7080",
    "time_zone": "Europe/Brussels",
    "hours_1_begin": "07:00",
    "hours_1_end": "19:00",
}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def login_csrf(client: Client) -> str:
    return csrf_of((await client.get("/ui/login")).text)


async def sign_in(client: Client, email: str) -> str:
    data = {"email": email, "password": ADMIN_PASSWORD, "next": "/ui/", "csrf": await login_csrf(client)}
    response = await client.post("/ui/login", data=data)
    assert response.status_code in (200, 302, 303), response.text
    dashboard = await client.get("/ui/")
    assert dashboard.status_code == 200
    return csrf_of(dashboard.text)


async def test_pages_require_sign_in_and_wrong_passwords_are_refused(client: Client, ui_admin: str) -> None:
    response = await client.get("/ui/sites", follow_redirects=False)
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/ui/login")
    csrf = await login_csrf(client)
    wrong = await client.post("/ui/login", data={"email": ui_admin, "password": "nope", "next": "/ui/", "csrf": csrf})
    assert wrong.status_code == 401 and "Wrong e-mail or password" in wrong.text
    elsewhere = await client.post(
        "/ui/login",
        data={"email": ui_admin, "password": ADMIN_PASSWORD, "next": "https://evil.example/", "csrf": csrf},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == "/ui/"


async def test_sign_in_needs_the_login_form_token(client: Client, ui_admin: str) -> None:
    """Login CSRF: another site cannot sign a browser in to an account of its choosing."""
    await login_csrf(client)
    forged = await client.post("/ui/login", data={"email": ui_admin, "password": ADMIN_PASSWORD, "csrf": "guess"})
    assert forged.status_code == 403
    assert "cpo_session" not in forged.headers.get("set-cookie", "")


async def test_repeated_wrong_passwords_are_throttled(client: Client, ui_admin: str) -> None:
    csrf = await login_csrf(client)
    for _ in range(10):
        wrong = await client.post("/ui/login", data={"email": ui_admin, "password": "guess", "csrf": csrf})
        assert wrong.status_code == 401
    right = await client.post("/ui/login", data={"email": ui_admin, "password": ADMIN_PASSWORD, "csrf": csrf})
    assert right.status_code == 429 and "Too many failed attempts" in right.text


async def test_odd_bytes_in_forms_are_4xx_not_500(client: Client, ui_admin: str) -> None:
    csrf = await login_csrf(client)
    nul = await client.post("/ui/login", data={"email": "a\x00@example.com", "password": "x", "csrf": csrf})
    assert nul.status_code == 400
    await sign_in(client, ui_admin)
    accented = await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": "é"})
    assert accented.status_code == 403


async def test_forms_without_the_csrf_token_change_nothing(
    client: Client, ui_admin: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await sign_in(client, ui_admin)
    forged = await client.post("/ui/sites/new", data=SITE_FORM)
    assert forged.status_code == 403
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Site)) == 0


async def test_create_site_and_station_then_see_them_listed(
    client: Client, ui_admin: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    csrf = await sign_in(client, ui_admin)
    created = await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf})
    assert created.status_code == 200 and "Depot Zwijnaarde" in created.text
    async with sessions() as session:
        site = (await session.execute(select(Site))).scalar_one()
    assert site.opening_times["twentyfourseven"] is False
    assert site.opening_times["regular_hours"] == [{"weekday": 1, "period_begin": "07:00", "period_end": "19:00"}]

    page = await client.post(
        "/ui/stations/new",
        data={
            "csrf": csrf,
            "site_id": str(site.id),
            "identity": "ZW-01",
            "security_profile": "2",
            "registration_status": "Pending",
        },
    )
    assert page.status_code == 201
    password = re.search(r'data-testid="station-password">([^<]+)<', page.text)
    assert password and 16 <= len(password.group(1)) <= 40
    assert "/ocpp/ZW-01" in page.text
    listing = await client.get("/ui/stations")
    assert "ZW-01" in listing.text and "Depot Zwijnaarde" in listing.text
    async with sessions() as session:
        station = (await session.execute(select(Station))).scalar_one()
    assert station.security_profile == 2 and station.registration_status == "Pending"
    detail = await client.get(f"/ui/stations/{station.id}")
    assert password.group(1) not in detail.text, "the password is never shown again"


async def test_invalid_form_shows_the_field_and_keeps_the_input(
    client: Client, ui_admin: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    csrf = await sign_in(client, ui_admin)
    response = await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf, "time_zone": "Mars/Olympus"})
    assert response.status_code == 400
    assert "time_zone" in response.text and "unknown IANA time zone" in response.text
    assert 'value="Depot Zwijnaarde"' in response.text
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Site)) == 0


async def test_language_switch_renders_dutch(client: Client, ui_admin: str) -> None:
    await sign_in(client, ui_admin)
    english = await client.get("/ui/sites")
    assert "New site" in english.text and '<html lang="en">' in english.text
    await client.get("/ui/lang/nl?next=/ui/sites")
    dutch = await client.get("/ui/sites")
    assert "Nieuwe locatie" in dutch.text and '<html lang="nl">' in dutch.text and "Locaties" in dutch.text


async def test_evse_and_connector_forms(
    client: Client, ui_admin: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    csrf = await sign_in(client, ui_admin)
    await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf})
    async with sessions() as session:
        site = (await session.execute(select(Site))).scalar_one()
    await client.post("/ui/stations/new", data={"csrf": csrf, "site_id": str(site.id), "identity": "ZW-02"})
    async with sessions() as session:
        station = (await session.execute(select(Station))).scalar_one()
    response = await client.post(
        f"/ui/stations/{station.id}/evses",
        data={
            "csrf": csrf,
            "ocpp_evse_id": "1",
            "evse_id": "BE*ABC*E0002",
            "public": "on",
            "capabilities": ["RFID_READER", "RESERVABLE"],
        },
    )
    assert response.status_code == 200 and "BE*ABC*E0002" in response.text
    evse_link = re.search(r'href="/ui/evses/([0-9a-f-]+)"', response.text)
    assert evse_link
    evse_page = await client.post(
        f"/ui/evses/{evse_link.group(1)}/connectors",
        data={"csrf": csrf, "ocpp_connector_id": "1", "standard": "IEC_62196_T2", "format": "CABLE",
              "power_type": "AC_3_PHASE", "max_voltage": "400", "max_amperage": "32", "max_electric_power": "22000"},
    )  # fmt: skip
    assert evse_page.status_code == 200 and "IEC_62196_T2" in evse_page.text
    bad = await client.post(
        f"/ui/stations/{station.id}/evses", data={"csrf": csrf, "ocpp_evse_id": "1", "evse_id": "not-an-id"}
    )
    assert bad.status_code == 400 and "evse_id" in bad.text


async def test_a_second_factor_is_set_up_with_a_code_and_then_asked_after_the_password(
    client: Client, ui_admin: str
) -> None:
    csrf = await sign_in(client, ui_admin)
    page = await client.get("/ui/account/second-factor")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
    assert page.status_code == 200 and secret is not None and "<svg" in page.text
    wrong = await client.post("/ui/account/second-factor", data={"csrf": csrf, "action": "on", "code": "000000"})
    assert wrong.status_code == 400
    totp = pyotp.TOTP(secret[1])
    on = await client.post("/ui/account/second-factor", data={"csrf": csrf, "action": "on", "code": totp.now()})
    assert on.status_code == 200 and 'id="second-factor-state"' in on.text
    await client.post("/ui/logout", data={"csrf": csrf})

    login = await client.post(
        "/ui/login",
        data={"email": ui_admin, "password": ADMIN_PASSWORD, "next": "/ui/sites", "csrf": await login_csrf(client)},
    )
    assert login.status_code == 200 and "/ui/login/code" in str(login.url)
    # the password alone opens nothing
    assert "/ui/login" in str((await client.get("/ui/sites")).url)
    form = await client.get("/ui/login/code?next=/ui/sites")
    code_csrf = csrf_of(form.text)
    refused = await client.post("/ui/login/code", data={"csrf": code_csrf, "code": "123456", "next": "/ui/sites"})
    assert refused.status_code == 401
    # the code that turned the factor on is spent: the next one (within the allowed drift) signs in
    later = totp.at(time.time() + totp.interval)
    accepted = await client.post("/ui/login/code", data={"csrf": code_csrf, "code": later, "next": "/ui/sites"})
    assert accepted.status_code == 200 and str(accepted.url).endswith("/ui/sites")
    assert (await client.get("/ui/sites")).status_code == 200


async def test_each_role_sees_its_own_pages_and_an_employee_only_their_own_charging(
    client: Client, ui_admin: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from cpo.access.models import Badge
    from cpo.accounts.models import Account
    from cpo.accounts.service import create_account
    from cpo.people.models import Person

    csrf = await sign_in(client, ui_admin)
    for name in ("Depot A", "Depot B"):
        await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf, "name": name})
    async with sessions() as session, session.begin():
        admin = (await session.execute(select(Account).where(Account.email == ui_admin))).scalar_one()
        tenant_id = admin.tenant_id
        depot_a = (await session.execute(select(Site).where(Site.name == "Depot A"))).scalar_one()
        lies = Person(tenant_id=tenant_id, kind="employee", user_name="lies@example.com", name="Lies Wouters",
                      email="lies@example.com", language="nl", status="active")  # fmt: skip
        other = Person(tenant_id=tenant_id, kind="employee", user_name="noor@example.com", name="Noor Jacobs",
                       email="noor@example.com", language="nl", status="active")  # fmt: skip
        session.add_all([lies, other])
        await session.flush()
        session.add_all([Badge(tenant_id=tenant_id, uid="11223344", uid_key="11223344", token_type="ISO14443",
                               status="active", person_id=lies.id),
                         Badge(tenant_id=tenant_id, uid="55667788", uid_key="55667788", token_type="ISO14443",
                               status="active", person_id=other.id)])  # fmt: skip
        for email, role in (("emp@example.com", "employee"), ("sm@example.com", "site_manager"),
                            ("hr@example.com", "hr_manager")):  # fmt: skip
            await create_account(session, tenant_id, email, role, ADMIN_PASSWORD, role,
                                 site_ids=[depot_a.id] if role == "site_manager" else None,
                                 person_id=lies.id if role == "employee" else None)  # fmt: skip
        lies_id = lies.id
    await client.post("/ui/logout", data={"csrf": csrf})

    # the employee lands on their own page: their badge, nobody else's, and no admin pages
    data = {"email": "emp@example.com", "password": ADMIN_PASSWORD, "next": "/ui/", "csrf": await login_csrf(client)}
    home = await client.post("/ui/login", data=data)
    assert str(home.url).endswith("/ui/me") and "11223344" in home.text and "55667788" not in home.text
    assert (await client.get("/ui/sites")).status_code == 403
    assert (await client.get("/ui/people")).status_code == 403
    await client.post("/ui/logout", data={"csrf": csrf_of(home.text)})

    # the site manager sees their site only
    csrf = await sign_in(client, "sm@example.com")
    listing = (await client.get("/ui/sites")).text
    assert "Depot A" in listing and "Depot B" not in listing
    assert (await client.get("/ui/people")).status_code == 403
    await client.post("/ui/logout", data={"csrf": csrf})

    # the HR manager sees people and blocks one from the person's page
    csrf = await sign_in(client, "hr@example.com")
    assert "Lies Wouters" in (await client.get("/ui/people")).text
    blocked = await client.post(f"/ui/people/{lies_id}/status", data={"csrf": csrf, "action": "block"})
    assert blocked.status_code == 200 and 'id="person-status"' in blocked.text
    async with sessions() as session:
        assert (await session.get(Person, lies_id)).status == "blocked"  # type: ignore[union-attr]
    assert (await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf})).status_code == 403


async def test_people_badges_and_rules_are_added_from_the_ui_with_clear_errors(client: Client, ui_admin: str) -> None:
    csrf = await sign_in(client, ui_admin)
    assert (await client.get("/ui/people/new")).status_code == 200
    bad = await client.post("/ui/people/new", data={"csrf": csrf, "name": "Bad", "email": "not an address"})
    assert bad.status_code == 400 and "email" in bad.text
    made = await client.post("/ui/people/new", data={"csrf": csrf, "name": "Sam Peeters", "email": "sam@example.com",
                                                     "kind": "visitor", "language": "en"})  # fmt: skip
    assert made.status_code == 200 and "Sam Peeters" in made.text
    person_url = str(made.url)
    person_path = person_url[person_url.index("/ui/people/") :]
    added = await client.post(
        f"{person_path}/badges", data={"csrf": csrf, "uid": "de:ad:be:ef", "token_type": "ISO14443"}
    )
    assert added.status_code == 200 and "DEADBEEF" in added.text
    again = await client.post(f"{person_path}/badges", data={"csrf": csrf, "uid": "EFBEADDE", "token_type": "ISO14443"})
    assert again.status_code == 409 or (again.status_code == 400 and "registered already" in again.text)
    wrong = await client.post(f"{person_path}/rules", data={"csrf": csrf, "name": "Hours", "windows": "weekdays 7-19"})
    assert wrong.status_code == 400 and "cannot read" in wrong.text
    rule = await client.post(f"{person_path}/rules", data={"csrf": csrf, "name": "Office hours",
                                                           "windows": "mon-fri 07:00-19:00\nsat 09:00-12:00"})  # fmt: skip
    assert rule.status_code == 200 and "mon-fri 07:00-19:00, sat 09:00-12:00" in rule.text


async def test_the_audit_log_page_lists_changes_and_exports_them(client: Client, ui_admin: str) -> None:
    csrf = await sign_in(client, ui_admin)
    await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf, "name": "Audited depot"})
    page = await client.get("/ui/audit", params={"entity": "sites"})
    assert page.status_code == 200 and "create" in page.text and "sites" in page.text
    export = await client.get("/ui/audit/export.csv")
    assert export.status_code == 200 and "Audited depot" in export.text


async def test_groups_are_created_and_a_person_is_edited_into_them(client: Client, ui_admin: str) -> None:
    csrf = await sign_in(client, ui_admin)
    created = await client.post(
        "/ui/groups", data={"csrf": csrf, "kind": "cost_centre", "name": "CC-310", "code": "310"}
    )
    assert created.status_code == 200 and "CC-310" in created.text
    twice = await client.post("/ui/groups", data={"csrf": csrf, "kind": "cost_centre", "name": "CC-310"})
    assert twice.status_code == 400 and "exists already" in twice.text
    made = await client.post("/ui/people/new", data={"csrf": csrf, "name": "Ann Dewit", "email": "ann@example.com"})
    path = str(made.url)[str(made.url).index("/ui/people/") :]
    form = await client.get(f"{path}/edit")
    cost_centre = re.search(r'<option value="([0-9a-f-]{36})"\s*>CC-310</option>', form.text)
    assert form.status_code == 200 and cost_centre is not None
    saved = await client.post(f"{path}/edit", data={"csrf": csrf, "name": "Ann De Wit", "email": "ann@example.com",
                                                    "kind": "employee", "language": "nl", "status": "inactive",
                                                    "cost_centre_id": cost_centre[1]})  # fmt: skip
    assert saved.status_code == 200 and "Ann De Wit" in saved.text and "CC-310" in saved.text
    assert 'id="person-status">Inactive' in saved.text or ">Inactief<" in saved.text


async def test_a_person_is_exported_and_erased_from_their_page(client: Client, ui_admin: str) -> None:
    csrf = await sign_in(client, ui_admin)
    made = await client.post("/ui/people/new", data={"csrf": csrf, "name": "Wim Goossens", "email": "wim@example.com"})
    path = str(made.url)[str(made.url).index("/ui/people/") :]
    await client.post(f"{path}/rules", data={"csrf": csrf, "name": "Weekdays", "windows": "mon-fri 08:00-18:00"})
    exported = await client.get(f"{path}/personal-data")
    assert exported.status_code == 200 and exported.json()["person"]["name"] == "Wim Goossens"
    unconfirmed = await client.post(f"{path}/erase", data={"csrf": csrf, "confirm": "yes"})
    assert unconfirmed.status_code == 400
    erased = await client.post(f"{path}/erase", data={"csrf": csrf, "confirm": "ERASE"})
    assert erased.status_code == 200 and "Wim Goossens" not in erased.text and "anon-" in erased.text
