"""UI pages: sign-in, language, dashboard, sites."""

from __future__ import annotations

import hmac
import uuid
from typing import Any, get_args
from urllib.parse import quote, urlsplit

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie, State
from litestar.di import Provide
from litestar.response import Redirect, Template
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts import second_factor
from cpo.accounts.service import authenticate, end_login_session, resolve_login_session, start_login_session
from cpo.accounts.sign_in_limits import account_blocked_for, forget_sign_in_failures, record_sign_in_failure
from cpo.charging.models import ChargingSession, StationPresence
from cpo.errors import InvalidInput, Unauthenticated
from cpo.network import client_address
from cpo.people import service as people_service
from cpo.secrets import new_secret
from cpo.sites import service as sites
from cpo.sites.models import Connector, Evse, Site, Station
from cpo.sites.permissions import may_choose_homes, require_home_unchanged_unless_allowed, require_site_creation
from cpo.sites.schemas import EnergyMix, SiteIn
from cpo.sites.vocabulary import Facility, ParkingType
from cpo.web.deps import runtime_of
from cpo.web.ui.forms import FormErrors, form_values, parse_form
from cpo.web.ui.i18n import LANGUAGES
from cpo.web.ui.session import (
    LANGUAGE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SignInRequired,
    UiUser,
    language_of,
    provide_ui_db,
    ui_user_needing,
)
from cpo.web.ui.throttle import LoginThrottle

WEEKDAYS = range(1, 8)


def _login_csrf_cookie(token: str, state: State) -> Cookie:
    secure = runtime_of(state).settings.security.secure_cookies
    return Cookie(key=LOGIN_CSRF_COOKIE, value=token, httponly=True, samesite="strict", secure=secure, path="/ui/login")


def _safe_next(target: str | None) -> str:
    """Only local paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/ui/"
    return target


async def _awaiting_code(db: AsyncSession, request: Request[Any, Any, Any]) -> tuple[Any, Any]:
    try:
        return await resolve_login_session(db, request.cookies.get(SESSION_COOKIE, ""), awaiting_code=True)
    except Unauthenticated:
        raise SignInRequired("sign in first") from None


class AuthPages(Controller):
    path = "/"

    @get("/login")
    async def login_form(self, request: Request[Any, Any, Any], state: State, next: str | None = None) -> Template:
        # Login CSRF (double submit): the form carries the value of a cookie a foreign site cannot read or set.
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_secret(24)
        context = {"lang": language_of(request), "next": _safe_next(next), "user": None, "csrf": token}
        return Template("login.html", context=context, cookies=[_login_csrf_cookie(token, state)])

    @post("/login")
    async def login(self, request: Request[Any, Any, Any], db: AsyncSession, state: State) -> Template | Redirect:
        form = await request.form()
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "")))
        settings = runtime_of(state).settings
        throttle: LoginThrottle = state.login_throttle
        address = client_address(request.scope, settings.server.trusted_proxies)
        token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        sent = str(form.get("csrf", ""))
        context = {"lang": language_of(request), "next": target, "email": email, "user": None, "csrf": token}
        if not token or not hmac.compare_digest(sent.encode(), token.encode()):
            return Template("login.html", context=context | {"error": "login.stale"}, status_code=403)
        # Per address (this node's memory) and per account (the database, all nodes): either one stops guessing.
        async with db.begin():
            wait = max(throttle.blocked_for(address), await account_blocked_for(db, email))
        if wait > 0:
            minutes = max(1, round(wait / 60))
            return Template(
                "login.html", context=context | {"error": "login.throttled", "minutes": minutes}, status_code=429
            )
        try:
            async with db.begin():
                account = await authenticate(db, email, password)
                secret, login = await start_login_session(db, account, settings.security.session_hours)
                if not login.second_factor_due:
                    await forget_sign_in_failures(db, email)
        except Unauthenticated:
            throttle.failed(address)
            async with db.begin():
                await record_sign_in_failure(db, email)
            return Template("login.html", context=context | {"error": "login.failed"}, status_code=401)
        session_cookie = Cookie(
            key=SESSION_COOKIE,
            value=secret,
            httponly=True,
            samesite="lax",
            secure=settings.security.secure_cookies,
            max_age=settings.security.session_hours * 3600,
            path="/",
        )
        if login.second_factor_due:
            # The password was right; the throttle forgets nothing until the code is right too.
            return Redirect(f"/ui/login/code?next={quote(target)}", cookies=[session_cookie])
        throttle.succeeded(address)
        return Redirect(target, cookies=[session_cookie])

    @get("/login/code")
    async def code_form(self, request: Request[Any, Any, Any], db: AsyncSession, next: str | None = None) -> Template:
        async with db.begin():
            login, _ = await _awaiting_code(db, request)
        context = {"lang": language_of(request), "next": _safe_next(next), "user": None, "csrf": login.csrf_token}
        return Template("login_code.html", context=context)

    @post("/login/code")
    async def code(self, request: Request[Any, Any, Any], db: AsyncSession, state: State) -> Template | Redirect:
        form = await request.form()
        target = _safe_next(str(form.get("next", "")))
        throttle: LoginThrottle = state.login_throttle
        address = client_address(request.scope, runtime_of(state).settings.server.trusted_proxies)
        async with db.begin():
            login, account = await _awaiting_code(db, request)
            context = {"lang": language_of(request, account), "next": target, "user": None, "csrf": login.csrf_token}
            if not hmac.compare_digest(str(form.get("csrf", "")).encode(), login.csrf_token.encode()):
                return Template("login_code.html", context=context | {"error": "login.stale"}, status_code=403)
            if (wait := max(throttle.blocked_for(address), await account_blocked_for(db, account.email))) > 0:
                minutes = max(1, round(wait / 60))
                return Template("login_code.html", context=context | {"error": "login.throttled", "minutes": minutes},
                                status_code=429)  # fmt: skip
            try:
                await second_factor.complete_sign_in(db, login, account, str(form.get("code", "")), state.sealer)
            except InvalidInput:
                throttle.failed(address)
                await record_sign_in_failure(db, account.email)
                return Template("login_code.html", context=context | {"error": "login.code_wrong"}, status_code=401)
            await forget_sign_in_failures(db, account.email)
        throttle.succeeded(address)
        return Redirect(target)

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser) -> Redirect:
        async with db.begin():
            await end_login_session(db, request.cookies.get(SESSION_COOKIE, ""))
        response = Redirect("/ui/login")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @get("/lang/{code:str}")
    async def switch_language(self, code: str, next: str | None = None) -> Redirect:
        """Remember the chosen language in a cookie (no state changes on the server)."""
        cookies = [Cookie(key=LANGUAGE_COOKIE, value=code, max_age=365 * 86400, samesite="lax", path="/")]
        return Redirect(_safe_next(next), cookies=cookies if code in LANGUAGES else [])


class DashboardPage(Controller):
    path = "/"
    dependencies = {"db": Provide(provide_ui_db)}

    @get("/")
    async def dashboard(self, db: AsyncSession, user: UiUser) -> Template | Redirect:
        if not user.principal.can("sites.read"):
            return Redirect("/ui/me")  # an employee's home is their own page
        return Template("dashboard.html", context=user.context(**await dashboard_figures(db, user)))

    @get("/live/tiles")
    async def live_tiles(self, db: AsyncSession, user: UiUser) -> Template:
        user.require("sites.read")
        return Template("_tiles.html", context=user.context(**await dashboard_figures(db, user)))


async def dashboard_figures(db: AsyncSession, user: UiUser) -> dict[str, Any]:
    tenant_id = user.principal.tenant_id
    async with db.begin():
        counts: dict[str, int] = {}
        for name, model in (("sites", Site), ("stations", Station), ("evses", Evse), ("connectors", Connector)):
            query = select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
            counts[name] = int(await db.scalar(query) or 0)
        online = (
            select(func.count())
            .select_from(StationPresence)
            .where(StationPresence.tenant_id == tenant_id, StationPresence.online.is_(True))
        )
        counts["online"] = int(await db.scalar(online) or 0)
        charging = (
            select(func.count())
            .select_from(ChargingSession)
            .where(ChargingSession.tenant_id == tenant_id, ChargingSession.status == "active")
        )
        counts["charging"] = int(await db.scalar(charging) or 0)
        by_status = dict(
            (
                await db.execute(
                    select(Station.registration_status, func.count())
                    .where(Station.tenant_id == tenant_id)
                    .group_by(Station.registration_status)
                )
            ).all()
        )
    return {"counts": counts, "by_status": by_status}


def _site_values(values: dict[str, Any]) -> dict[str, Any]:
    """The form's opening-hours grid into an OCPI Hours object."""
    data = {k: v for k, v in values.items() if not k.startswith("hours_")}
    always = values.get("twentyfourseven") in ("on", "true", "1")
    regular = []
    for day in WEEKDAYS:
        begin, end = values.get(f"hours_{day}_begin"), values.get(f"hours_{day}_end")
        if begin or end:
            regular.append({"weekday": day, "period_begin": begin or "", "period_end": end or ""})
    data["opening_times"] = {"twentyfourseven": always, "regular_hours": [] if always else regular}
    data.pop("twentyfourseven", None)
    return data


def _site_choices(people_rows: list[Any] | None) -> dict[str, Any]:
    """What the site form offers beyond its text fields: OCPI facilities and parking types, and the people
    whose home a site can be (None: the user may not choose, nor see their names)."""
    people = None if people_rows is None else [(str(p.id), p.name) for p in people_rows if p.erased_at is None]
    return {"facility_options": get_args(Facility), "parking_options": get_args(ParkingType), "people": people}


class SitePages(Controller):
    path = "/sites"
    dependencies = {"user": ui_user_needing("sites.read"), "db": Provide(provide_ui_db)}

    @get("/")
    async def list_sites(self, db: AsyncSession, user: UiUser) -> Template:
        async with db.begin():
            rows = await sites.list_sites(db, user.principal.tenant_id)
        return Template("sites/list.html", context=user.context(sites=rows))

    async def _choices(self, db: AsyncSession, user: UiUser) -> dict[str, Any]:
        if not may_choose_homes(user.principal):
            return _site_choices(None)
        async with db.begin():
            return _site_choices(await people_service.list_people(db, user.principal.tenant_id))

    @get("/new")
    async def new_site(self, db: AsyncSession, user: UiUser) -> Template:
        require_site_creation(user.principal)
        choices = await self._choices(db, user)
        return Template("sites/form.html", context=user.context(site=None, values={}, errors={}, **choices))

    @post("/new")
    async def create_site(self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser) -> Template | Redirect:
        user.require("sites.write", db)
        require_site_creation(user.principal)
        values = form_values(await request.form(), lists=("facilities",))
        try:
            data = parse_form(_site_values(values), SiteIn, checkboxes=("publish",))
            require_home_unchanged_unless_allowed(user.principal, None, data.home_person_id)
            async with db.begin():
                site = await sites.create_site(db, user.principal.tenant_id, data)
        except (FormErrors, InvalidInput) as invalid:
            errors = invalid.errors if isinstance(invalid, FormErrors) else {invalid.field: invalid.reason}
            context = user.context(site=None, values=values, errors=errors, **await self._choices(db, user))
            return Template("sites/form.html", context=context, status_code=400)
        return Redirect(f"/ui/sites/{site.id}")

    @get("/{site_id:uuid}")
    async def edit_site(self, db: AsyncSession, user: UiUser, site_id: uuid.UUID) -> Template:
        async with db.begin():
            site = await sites.get_site(db, user.principal.tenant_id, site_id)
            stations = await sites.list_stations(db, user.principal.tenant_id, site_id)
        values = {
            "name": site.name, "address": site.address, "city": site.city, "postal_code": site.postal_code or "",
            "state": site.state or "", "country": site.country, "latitude": str(site.latitude),
            "longitude": str(site.longitude), "time_zone": site.time_zone,
            "publish": "on" if site.publish else "",
            "twentyfourseven": "on" if site.opening_times.get("twentyfourseven", True) else "",
            "facilities": list(site.facilities or []), "parking_type": site.parking_type or "",
            "home_person_id": str(site.home_person_id) if site.home_person_id else "",
        }  # fmt: skip
        for period in site.opening_times.get("regular_hours", []):
            values[f"hours_{period['weekday']}_begin"] = period["period_begin"]
            values[f"hours_{period['weekday']}_end"] = period["period_end"]
        context = user.context(site=site, values=values, errors={}, stations=stations, **await self._choices(db, user))
        return Template("sites/form.html", context=context)

    @post("/{site_id:uuid}")
    async def update_site(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, site_id: uuid.UUID
    ) -> Template | Redirect:
        user.require("sites.write", db)
        values = form_values(await request.form(), lists=("facilities",))
        try:
            data = parse_form(_site_values(values), SiteIn, checkboxes=("publish",))
            async with db.begin():
                site = await sites.get_site(db, user.principal.tenant_id, site_id)
                # what the form does not show is kept as it is (the energy mix is set over the API)
                data.energy_mix = msgspec.convert(site.energy_mix, EnergyMix) if site.energy_mix else None
                data.currency = site.currency
                if "home_person_id" not in values and not may_choose_homes(user.principal):
                    data.home_person_id = site.home_person_id  # not in their form: kept, as the energy mix
                require_home_unchanged_unless_allowed(user.principal, site.home_person_id, data.home_person_id)
                await sites.update_site(db, user.principal.tenant_id, site_id, data)
        except (FormErrors, InvalidInput) as invalid:
            errors = invalid.errors if isinstance(invalid, FormErrors) else {invalid.field: invalid.reason}
            async with db.begin():
                site = await sites.get_site(db, user.principal.tenant_id, site_id)
            context = user.context(site=site, values=values, errors=errors, stations=[],
                                   **await self._choices(db, user))  # fmt: skip
            return Template("sites/form.html", context=context, status_code=400)
        return Redirect("/ui/sites")

    @post("/{site_id:uuid}/delete")
    async def delete_site(self, db: AsyncSession, user: UiUser, site_id: uuid.UUID) -> Redirect:
        user.require("sites.write", db)
        async with db.begin():
            await sites.delete_site(db, user.principal.tenant_id, site_id)
        return Redirect("/ui/sites")
