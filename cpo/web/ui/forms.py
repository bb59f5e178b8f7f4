"""HTML forms into the same msgspec inputs the API takes, so both validate alike."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar.datastructures import FormMultiDict

from cpo.errors import DomainError
from cpo.web.problems import field_error

T = TypeVar("T")


class FormErrors(DomainError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def errors_of(error: DomainError) -> dict[str, str]:
    """A form's field errors, from the form itself or from the service that refused its values."""
    if isinstance(error, FormErrors):
        return error.errors
    return {getattr(error, "field", None) or "form": getattr(error, "reason", None) or str(error)}


def form_values(form: FormMultiDict, lists: tuple[str, ...] = ()) -> dict[str, Any]:
    """Non-empty fields as strings (lists for multi-value fields); the CSRF token left out."""
    values: dict[str, Any] = {}
    for key in form:
        if key == "csrf":
            continue
        if key in lists:
            values[key] = [v for v in form.getall(key) if v]
            continue
        value = form.get(key)
        if isinstance(value, str) and value.strip() != "":
            values[key] = value.strip()
    return values


def parse_form(values: dict[str, Any], type_: type[T], checkboxes: tuple[str, ...] = ()) -> T:
    data = dict(values)
    for box in checkboxes:
        data[box] = box in values and values[box] in ("on", "true", "1")
    try:
        return msgspec.convert(data, type_, strict=False)
    except msgspec.ValidationError as error:
        problem = field_error(str(error))
        raise FormErrors({problem["field"] or "form": problem["reason"]}) from None
