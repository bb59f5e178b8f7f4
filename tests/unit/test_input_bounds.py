"""Untrusted text meets every regex only after a length bound: 1 MB of adversarial input costs well under 100 ms.

A regex that backtracks (the SCIM e-mail check took 2.8 s on 30 kB) blocks the event loop, and with it every
request and every station on that worker. Each regex that reads input from outside is run here, through the
function or schema that applies it, on 1 MB strings built to make it backtrack. Also: the nesting guard that
stands before every JSON decoder, checked against the depth of the decoded value.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import pkgutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import inspect as mi

from cpo.access.rules import Window
from cpo.access.tokens import canonical_uid, uid_key
from cpo.json_depth import MAX_DEPTH, nested_too_deep
from cpo.people import scim
from cpo.people.provisioning import GROUP_FILTERS, USER_FILTERS
from cpo.tenants.service import SLUG
from cpo.web.problems import field_error
from ocpp_gateway.frames import guess_message_id

MB = 1_000_000
BUDGET = 0.1  # seconds, for 1 MB
# What makes the patterns in this code base backtrack: long runs of what a greedy class takes, then
# something that fails the match at the very end.
FILLERS = [" ", "a", ".", "@", "-", "0", ":", '"', "\\", "`", "a.", "a@", ". ", "a ", "\\a", " - at `$", "0:"]
ENDINGS = ["", "\x00", " x", "@", "!"]


def adversarial(*prefixes: str) -> Iterator[str]:
    for prefix in (*prefixes, ""):
        for filler in FILLERS:
            body = filler * (MB // len(filler))
            for ending in ENDINGS:
                yield prefix + body + ending


def timed(check: Callable[[str], Any], text: str) -> float:
    start = time.perf_counter()
    with contextlib.suppress(ValueError, scim.ScimError, msgspec.ValidationError):
        check(text)
    return time.perf_counter() - start


def slowest(check: Callable[[str], Any], inputs: Iterator[str]) -> tuple[float, str]:
    worst, example = 0.0, ""
    for text in inputs:
        # the best of up to three runs: the machine may be busy with other work, a backtracking regex is
        # slow every time
        took = min(timed(check, text) for _ in range(3)) if timed(check, text) > BUDGET else 0.0
        if took > worst:
            worst, example = took, text
    return worst, example


def scim_user(**fields: Any) -> Any:
    return scim.user_fields({"schemas": [scim.USER], "userName": "jan@example.com", **fields})


def user_patch(path: str, value: Any) -> Any:
    current = scim.UserFields(user_name="jan@example.com", name="Jan")
    return scim.apply_user_patch(current, {"schemas": [scim.PATCH_OP], "Operations": [
        {"op": "replace", "path": path, "value": value}]})  # fmt: skip


CHECKS: dict[str, tuple[Callable[[str], Any], tuple[str, ...]]] = {
    "scim userName as e-mail": (lambda t: scim_user(userName=t), ("a@", "a@a")),
    "scim emails.value": (lambda t: scim_user(emails=[{"value": t}]), ("a@", "a@a", "a@a.")),
    "scim PATCH emails[...].value": (lambda t: user_patch('emails[type eq "work"].value', t), ("a@",)),
    "scim user filter": (lambda t: scim.parse_filter(t, USER_FILTERS), ('userName eq "', "userName ")),
    "scim group filter": (lambda t: scim.parse_filter(t, GROUP_FILTERS), ('displayName eq "',)),
    "scim group member path": (
        lambda t: scim.group_patch({"schemas": [scim.PATCH_OP], "Operations": [{"op": "remove", "path": t}]}),
        ('members[value eq "',),
    ),
    "access rule window": (Window.parse, ("mon", "mon-fri ", "mon 07:00")),
    "problem field of a msgspec message": (field_error, ("Object contains unknown field `", "Expected `str`")),
    "OCPP message id of a broken frame": (guess_message_id, ('[2, "', "[ 2 ,")),
    "badge UID canonical form": (canonical_uid, ("0x",)),
    "badge UID match key": (uid_key, ("04:",)),
    "tenant slug": (SLUG.match, ("a",)),
    "JSON nesting guard": (nested_too_deep, ('["', "[" * 65)),
}


@pytest.mark.parametrize("name", CHECKS)
def test_each_regex_on_untrusted_text_takes_well_under_100_ms_on_1_mb(name: str) -> None:
    check, prefixes = CHECKS[name]
    worst, example = slowest(check, adversarial(*prefixes))
    assert worst < BUDGET, f"{name}: {worst:.3f} s on {example[:40]!r}... ({len(example)} characters)"


def _patterned_fields() -> Iterator[tuple[type[msgspec.Struct], str]]:
    """Every field of every msgspec schema in the four packages whose text must match a pattern."""
    for package in ("cpo", "ocpi", "payments", "ocpp_gateway"):
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
            if ".migrations" in info.name or ".simulator" in info.name:
                continue
            module = importlib.import_module(info.name)
            for kind in vars(module).values():
                if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)) or kind.__module__ != info.name:
                    continue
                for field in mi.type_info(kind).fields:  # type: ignore[union-attr]
                    options = field.type.types if isinstance(field.type, mi.UnionType) else (field.type,)
                    for option in options:
                        while isinstance(option, mi.Metadata | mi.ListType):
                            option = option.type if isinstance(option, mi.Metadata) else option.item_type
                        if isinstance(option, mi.StrType) and option.pattern:
                            yield kind, field.encode_name


PATTERNED = sorted(set(_patterned_fields()), key=lambda f: (f[0].__module__, f[0].__name__, f[1]))


def test_the_schema_scan_finds_the_patterned_fields() -> None:
    names = {f"{kind.__name__}.{field}" for kind, field in PATTERNED}
    assert {"PersonIn.email", "StartIn.email", "SiteIn.country", "TenantIn.slug"} <= names


@pytest.mark.parametrize(("kind", "field"), PATTERNED, ids=[f"{k.__module__}.{k.__name__}.{f}" for k, f in PATTERNED])
def test_each_patterned_schema_field_refuses_1_mb_well_under_100_ms(kind: type[msgspec.Struct], field: str) -> None:
    def check(text: str) -> None:
        msgspec.convert({field: text}, kind)

    inputs = (
        filler * (MB // len(filler)) + ending for filler in ("a", ".", "a@", "a.", " ", "0") for ending in ("", " x")
    )
    worst, example = slowest(check, (prefix + text for prefix in ("", "a@") for text in inputs))
    assert worst < BUDGET, f"{kind.__name__}.{field}: {worst:.3f} s on {example[:40]!r}..."


# --- the nesting guard -------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ ax:,\n\té', max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\ a', max_size=4), inner,
                                                               max_size=3),
    max_leaves=40,
)  # fmt: skip


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(value=json_values, limit=st.integers(0, 12), wrap=st.integers(0, 12))
def test_the_nesting_guard_agrees_with_the_depth_of_the_decoded_value(value: Any, limit: int, wrap: int) -> None:
    for _ in range(wrap):
        value = [value] if wrap % 2 else {"k[": value}
    text = json.dumps(value, ensure_ascii=bool(wrap % 3))
    assert nested_too_deep(text, limit) == (depth(value) > limit)
    assert nested_too_deep(text.encode(), limit) == (depth(value) > limit)


def test_brackets_in_strings_and_escaped_quotes_do_not_count_as_nesting() -> None:
    assert not nested_too_deep(json.dumps({"a": "[" * 5000}))
    assert not nested_too_deep(json.dumps(["\\", "[" * 100, '"[[[', "\\\\" + "{" * 100]))
    assert nested_too_deep("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert not nested_too_deep("[" * MAX_DEPTH + "]" * MAX_DEPTH)
