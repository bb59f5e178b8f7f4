"""The composition root: ``create_app(settings)`` wires the core, the transports and the runtime."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.compression import CompressionConfig
from litestar.connection import ASGIConnection
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import ResponseHeader, State
from litestar.di import Provide
from litestar.exceptions import MethodNotAllowedException, NotAuthorizedException, NotFoundException
from litestar.exceptions.responses import create_exception_response
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_404_NOT_FOUND, HTTP_500_INTERNAL_SERVER_ERROR
from litestar.template.config import TemplateConfig
from swagger_ui_bundle import swagger_ui_path

import cpo
from cpo.access import local_lists
from cpo.logs import configure_logging
from cpo.outbox.dispatcher import Event, Handler, Handlers
from cpo.roaming.sealing import sealer_for
from cpo.roaming.tokens import set_realtime_authorizer
from cpo.runtime import Runtime
from cpo.settings import Settings, load_settings
from cpo.tariffs import service as tariffs
from cpo.web.access_log import access_log_middleware
from cpo.web.api import api_router
from cpo.web.api_docs import declare_problem_responses
from cpo.web.deps import provide_db
from cpo.web.json_body import refuse_deep_json
from cpo.web.ops import healthz, readyz
from cpo.web.problems import internal_error_response, problem
from cpo.web.scim import scim_router
from cpo.web.ui import UI_STATIC, UI_TEMPLATES, ui_router
from cpo.web.ui.i18n import install_i18n
from cpo.web.ui.throttle import LoginThrottle
from ocpi import push as ocpi_push
from ocpi.admin import admin_router as ocpi_admin_router
from ocpi.outbound import PartnerHttp
from ocpi.realtime import make_asker
from ocpi.routes import http_error_response as ocpi_http_error
from ocpi.routes import ocpi_router
from ocpi.ui import RoamingPages
from ocpp_gateway.endpoint import ASGIApp, with_ocpp
from ocpp_gateway.gateway import Gateway
from ocpp_gateway.mtls import ClientCertificatePort
from payments.admin_api import payment_account_router
from payments.admin_ui import PaymentPages, QrPages
from payments.flow import SETTLED as PAYMENT_SETTLED
from payments.flow import Payments, run_sweeper
from payments.mail import send_receipt
from payments.pages import pages_router
from payments.stripe_processor import StripeProcessor
from payments.web import payments_router


def metrics_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """With CPO_METRICS_TOKEN set, scrapers must send it as a bearer token."""
    expected = connection.app.state.settings.server.metrics_token
    if expected is None:
        return
    sent = connection.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise NotAuthorizedException("metrics need the bearer token from CPO_METRICS_TOKEN")


class Metrics(PrometheusController):
    path = "/metrics"
    include_in_schema = False
    guards = [metrics_guard]


@get("/", include_in_schema=False, sync_to_thread=False)
def root() -> Redirect:
    return Redirect("/ui/")


def not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    """Unknown paths: problem details for API clients, the OCPI envelope for partners, a plain page for people."""
    if request.url.path.startswith("/ocpi/"):
        return ocpi_http_error(request, exc)
    if request.url.path.startswith("/api/"):
        return problem(HTTP_404_NOT_FOUND, "no such resource")
    return Response("Not found", status_code=HTTP_404_NOT_FOUND, media_type=MediaType.TEXT)


LIST_TOPICS = ("badge.changed", "person.created", "person.updated", "access_rule.changed")
SETTLED = {"updated", "in step", "unsupported", "offline"}


def method_not_allowed(request: Request[Any, Any, Any], exc: MethodNotAllowedException) -> Response[Any]:
    """A method the path does not take: the OCPI envelope for partners, the usual answer elsewhere."""
    if request.url.path.startswith("/ocpi/"):
        return ocpi_http_error(request, exc)
    return create_exception_response(request, exc)


def outbox_handlers(state: State, settings: Settings) -> Handlers:
    """Consumers of outbox events, by topic. Areas and transports register theirs here."""

    async def sync_local_lists(event: Event) -> None:
        """A badge, a person or a rule changed: every connected station of the tenant gets its list updated."""
        gateway = getattr(state, "gateway", None)
        if gateway is None:
            raise RuntimeError("the OCPP gateway is not running yet")
        if event.tenant_id is None:
            return
        outcomes = await local_lists.sync_tenant(state.runtime.sessions, gateway, event.tenant_id)
        if unsettled := {k: v for k, v in outcomes.items() if k not in SETTLED}:
            raise RuntimeError(f"local lists to send again: {unsettled}")

    async def issue_cdr(event: Event) -> None:
        """A session ended: price it and issue its CDR (once; a repeat finds the CDR issued)."""
        async with state.runtime.sessions() as session, session.begin():
            await tariffs.issue_cdr(session, uuid.UUID(str(event.payload["id"])))

    async def settle_payment(event: Event) -> None:
        """A CDR is issued: if its session was paid by card at the EVSE, take the amount from the hold."""
        payments: Payments | None = getattr(state, "payments", None)
        if payments is None:
            raise RuntimeError("payments are not running yet")
        await payments.on_cdr(uuid.UUID(str(event.payload["id"])))

    async def mail_receipt(event: Event) -> None:
        """A card payment is settled: its receipt goes to the driver's address, if they left one."""
        await send_receipt(state.runtime.sessions, settings.payments, uuid.UUID(str(event.payload["id"])))

    handlers: dict[str, list[Handler]] = {"session.completed": [issue_cdr], "cdr.issued": [settle_payment],
                                          PAYMENT_SETTLED: [mail_receipt]}  # fmt: skip
    for topic, consumers in ocpi_push.handlers(state, lambda: state.runtime.sessions()).items():
        handlers.setdefault(topic, []).extend(consumers)
    if settings.ocpp.local_lists:
        handlers.update({topic: [sync_local_lists] for topic in LIST_TOPICS})
    return handlers


def tune_garbage_collector() -> None:
    """Keep the cyclic collector from stalling every station's frames.

    A full collection walks every object of every connected station: with thousands connected that is a
    quarter of a second with the event loop stopped. Two changes keep it rare: what startup built (lasting
    as long as the process) is frozen out of the walk, and young collections run after 50,000 allocations
    instead of 700, so the objects of a call in flight are freed by reference counting before a collection
    can promote them into the old generation, whose growth is what triggers full collections.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def create_app(settings: Settings, handlers: Handlers | None = None) -> Litestar:
    """Build the ASGI app; nothing connects until it starts."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        runtime = await Runtime.start(
            settings,
            handlers if handlers is not None else outbox_handlers(app.state, settings),
            migrate_schema=settings.database.migrate_on_start,
        )
        app.state.runtime = runtime
        app.state.sealer = sealer_for(settings)
        app.state.partner_http = PartnerHttp.from_settings(settings.ocpi)  # every call to a partner-given URL
        set_realtime_authorizer(make_asker(app.state.sealer, app.state.partner_http))
        gateway = Gateway(runtime.sessions, runtime.database_url, settings.ocpp)
        await gateway.start()
        app.state.gateway = gateway
        app.state.commands = gateway  # the ChargerCommands port of the core
        pay = settings.payments
        processor = StripeProcessor(pay.stripe_secret_key or "", pay.stripe_api_base) if pay.enabled else None
        app.state.payments = Payments(runtime.sessions, processor, gateway, pay, app.state.sealer,
                                      lambda key: StripeProcessor(key, pay.stripe_api_base))  # fmt: skip
        sweeper = asyncio.create_task(run_sweeper(app.state.payments, pay.sweep_seconds), name="payment-sweeper")
        client_port = None
        if settings.tls.enabled and settings.tls.client_ca_file and settings.tls.client_port:
            client_port = ClientCertificatePort(gateway, settings.tls, settings.server.host)
            await client_port.start()
        tune_garbage_collector()
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            if client_port is not None:
                await client_port.stop()
            await gateway.stop()
            await runtime.stop()

    def engine_callback(engine: JinjaTemplateEngine) -> None:
        install_i18n(engine.engine)

    openapi = OpenAPIConfig(
        title="CPO platform admin API",
        version=cpo.__version__,
        path="/api/docs",
        render_plugins=[
            SwaggerRenderPlugin(
                path="/",
                js_url="/static/swagger/swagger-ui-bundle.js",
                css_url="/static/swagger/swagger-ui.css",
                standalone_preset_js_url="/static/swagger/swagger-ui-standalone-preset.js",
                favicon="<link rel='icon' type='image/svg+xml' href='/static/ui/icon.svg'>",
            )
        ],
        components=Components(
            security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer")},
        ),
    )
    return Litestar(
        route_handlers=[
            root,
            healthz,
            readyz,
            Metrics,
            api_router(),
            scim_router(),
            ocpi_router(),
            ocpi_admin_router(),
            payments_router(),
            payment_account_router(),
            pages_router(),
            ui_router([RoamingPages, QrPages, PaymentPages]),
            create_static_files_router("/static/ui", directories=[UI_STATIC], include_in_schema=False),
            create_static_files_router(
                "/static/swagger", directories=[Path(str(swagger_ui_path))], include_in_schema=False
            ),
        ],
        dependencies={"db": Provide(provide_db)},
        before_request=refuse_deep_json,  # before any handler decodes a body (deep nesting: 400, not 500)
        on_app_init=[declare_problem_responses],  # /api/v1 errors documented as sent: problem details
        exception_handlers={
            NotFoundException: not_found,
            MethodNotAllowedException: method_not_allowed,
            HTTP_500_INTERNAL_SERVER_ERROR: internal_error_response,
        },
        lifespan=[lifespan],
        openapi_config=openapi,
        template_config=TemplateConfig(
            directory=UI_TEMPLATES, engine=JinjaTemplateEngine, engine_callback=engine_callback
        ),
        middleware=[
            access_log_middleware,
            PrometheusConfig(
                app_name="cpo",
                prefix="cpo",
                # Label by route template, never by raw path: ids and probes must not grow new series.
                group_path=True,
                exclude_unhandled_paths=True,
                exclude=["^/ocpp/"],  # station websockets: counted by the gateway, not per frame here
            ).middleware,
        ],
        # level 6 (zlib's default): nearly the size of 9 at half the time; OCPI pages are 100 KB of JSON
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024, gzip_compress_level=6),
        state=State({"settings": settings, "login_throttle": LoginThrottle()}),
        request_max_body_size=1024 * 1024,
        response_headers=[
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
            ResponseHeader(name="X-Frame-Options", value="DENY"),
            ResponseHeader(name="Referrer-Policy", value="same-origin"),
        ],
        logging_config=None,  # logs are configured once, by configure_logging
        debug=False,
    )


def app_from_environment() -> ASGIApp:
    """Factory for the ASGI server (``cpo serve`` and ``uvicorn --factory``): settings from CPO_*."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    return with_ocpp(create_app(settings))
