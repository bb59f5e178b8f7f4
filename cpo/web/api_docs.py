"""The errors every /api/v1 operation can answer, declared in the OpenAPI document as they are sent.

Litestar documents only the success response and a 400 of its own shape; the API answers every error as
problem details (``application/problem+json``, RFC 9457) and any operation may refuse a token (401) or a
role (403). Clients generated from the document, and the property-based tests that read it, need to know.
"""

from __future__ import annotations

from litestar import Router
from litestar.config.app import AppConfig
from litestar.openapi import ResponseSpec
from litestar.routes import HTTPRoute
from msgspec import Struct

from cpo.web.problems import PROBLEM

API_PREFIX = "/api/v1/"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class FieldProblem(Struct):
    field: str
    reason: str


class Problem(Struct):
    """RFC 9457 problem details; ``errors`` names the fields at fault."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=Problem, description=description, media_type=PROBLEM, generate_examples=False)


ERRORS = {
    400: _spec("The request is malformed or a value is refused (errors says which)"),
    401: _spec("No API token, or not a valid one"),
    403: _spec("The token's role may not do this"),
    404: _spec("No such resource in this tenant (named in the path, or in the body)"),
    409: _spec("It conflicts with what exists (a duplicate, or a resource still in use)"),
}


def declare_problem_responses(app_config: AppConfig) -> AppConfig:
    """``on_app_init`` hook: every operation under /api/v1 declares the problem responses it can give."""
    for layer in app_config.route_handlers:
        if not isinstance(layer, Router):
            continue
        for route in layer.routes:
            if not isinstance(route, HTTPRoute) or not route.path.startswith(API_PREFIX):
                continue
            for handler in route.route_handlers:
                codes = [400, 401, 403, 404]
                if handler.http_methods & WRITES:
                    codes.append(409)
                handler.responses = {code: ERRORS[code] for code in codes} | dict(handler.responses or {})
    return app_config
