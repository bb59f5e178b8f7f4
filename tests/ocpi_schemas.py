"""Validate payloads against the OCPI organisation's OpenAPI schemas (../shared/specs/ocpi-openapi)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import shared_specs


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. (YAML 1.1 would read the enum ``YES, NO`` of TaxIncluded as
    booleans, and no string could ever match it.)"""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@cache
def _registry(version: str) -> Registry:  # type: ignore[type-arg]
    """Resolves each ``$ref`` to the YAML file it names (one registry per OCPI version)."""

    def retrieve(uri: str) -> Resource:  # type: ignore[type-arg]
        path = Path(uri.removeprefix("file://"))
        contents = yaml.load(path.read_text(), Loader=Yaml12Loader)
        return Resource.from_contents(contents, default_specification=DRAFT202012)

    return Registry(retrieve=retrieve)  # type: ignore[call-arg]


def errors(payload: Any, version: str, module: str, schema: str) -> list[str]:
    """Every way ``payload`` breaks ``components/schemas/<schema>`` of ``modules/<module>/schema.yaml``."""
    path = shared_specs("ocpi-openapi", version, "modules", module, "schema.yaml").resolve()
    validator = Draft202012Validator(
        {"$ref": f"file://{path}#/components/schemas/{schema}"}, registry=_registry(version)
    )
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(payload)]
