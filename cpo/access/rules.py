"""Who may charge where and when: the pure decision behind every Authorize and every start.

No I/O here: the service gathers the facts (the token, its holder, the rules that apply, the place, the
month's usage) and this module decides. Time windows are read in the site's own time zone, so "Mon-Fri
07:00-19:00" means the same wall-clock hours in winter and in summer time.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

Reason = Literal[
    "allowed",
    "unknown",
    "token_blocked",
    "token_expired",
    "token_not_yet_valid",
    "person_inactive",
    "person_blocked",
    "not_at_this_location",
    "not_at_this_time",
    "outside_validity",
    "quota_exhausted",
    "concurrent",
    "partner_refused",
]
TokenStatus = Literal["active", "blocked", "expired"]
PersonStatus = Literal["active", "inactive", "blocked"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_WINDOW_TEXT = 100  # "mon,tue,wed,thu,fri,sat,sun 00:00-24:00" with room for spaces
_WINDOW = re.compile(r"^\s*(?P<days>[A-Za-z,\- ]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")


class WindowError(ValueError):
    """A time window that cannot be read."""


@dataclass(frozen=True, slots=True)
class Window:
    """Weekly hours: on ``days`` (0 = Monday) from ``start`` to ``end`` local time.

    ``end`` at or before ``start`` runs past midnight into the next day; ``start == end`` is 24 hours.
    """

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise WindowError("days must be a non-empty set of 0 (Monday) to 6 (Sunday)")

    @property
    def past_midnight(self) -> bool:
        return self.end <= self.start

    def contains(self, local: datetime) -> bool:
        """Is this local (wall-clock) moment inside the window?"""
        day, moment = local.weekday(), local.time().replace(tzinfo=None)
        if not self.past_midnight:
            return day in self.days and self.start <= moment < self.end
        # Past midnight: the evening of a listed day, or the early hours after one.
        return (day in self.days and moment >= self.start) or ((day - 1) % 7 in self.days and moment < self.end)

    def to_text(self) -> str:
        return f"{_days_text(self.days)} {self.start:%H:%M}-{self.end:%H:%M}"

    @classmethod
    def parse(cls, text: str) -> Window:
        """Read ``"mon-fri 07:00-19:00"``, ``"sat,sun 00:00-00:00"`` or ``"fri 22:00-06:00"``."""
        # The days part and the spaces after it overlap: the pattern backtracks quadratically on long text.
        if len(text) > MAX_WINDOW_TEXT:
            raise WindowError(f"a window is at most {MAX_WINDOW_TEXT} characters: write e.g. 'mon-fri 07:00-19:00'")
        match = _WINDOW.match(text)
        if match is None:
            raise WindowError(f"cannot read {text!r}: write e.g. 'mon-fri 07:00-19:00'")
        return cls(_parse_days(match["days"]), _parse_time(match["start"]), _parse_time(match["end"]))


def _parse_time(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours == 24 and minutes == 0:
        return time(0, 0)
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise WindowError(f"{text} is not a time of day")
    return time(hours, minutes)


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise WindowError(f"unknown day in {text!r}: use mon, tue, wed, thu, fri, sat, sun")
        a, b = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def _days_text(days: Iterable[int]) -> str:
    ordered = sorted(days)
    runs: list[list[int]] = []
    for day in ordered:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(DAY_NAMES[run[0]] if len(run) == 1 else f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}" for run in runs)


@dataclass(frozen=True, slots=True)
class Rule:
    """Where, when and how much one person or group may charge. Empty fields do not restrict."""

    id: uuid.UUID
    site_ids: frozenset[uuid.UUID] | None = None
    evse_ids: frozenset[uuid.UUID] | None = None
    windows: tuple[Window, ...] = ()
    valid_from: date | None = None
    valid_until: date | None = None
    """Inclusive: the last day the rule applies."""
    monthly_kwh_quota: Decimal | None = None

    def covers_place(self, place: Place) -> bool:
        if self.site_ids is not None and place.site_id not in self.site_ids:
            return False
        # An Authorize before the plug names no EVSE: the start that follows is checked again with it.
        return self.evse_ids is None or place.evse_id is None or place.evse_id in self.evse_ids

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_until is None or day <= self.valid_until
        )

    def open_at(self, local: datetime) -> bool:
        return not self.windows or any(window.contains(local) for window in self.windows)


@dataclass(frozen=True, slots=True)
class Token:
    status: TokenStatus
    valid_from: datetime | None = None
    valid_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class Place:
    site_id: uuid.UUID
    evse_id: uuid.UUID | None
    time_zone: str


@dataclass(frozen=True, slots=True)
class Usage:
    kwh_this_month: Decimal = Decimal(0)
    running_sessions: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    reason: Reason
    rule_id: uuid.UUID | None = None

    @property
    def allowed(self) -> bool:
        return self.reason == "allowed"


def decide(
    token: Token | None,
    person: PersonStatus | None,
    rules: Sequence[Rule],
    place: Place,
    now: datetime,
    usage: Usage = Usage(),
    one_session_per_token: bool = False,
) -> Decision:
    """Allow or deny, with the reason. Rules restrict: a token whose holder has no rules may charge anywhere."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if token is None:
        return Decision("unknown")
    if token.status == "blocked":
        return Decision("token_blocked")
    if token.status == "expired" or (token.valid_to is not None and now >= token.valid_to):
        return Decision("token_expired")
    if token.valid_from is not None and now < token.valid_from:
        return Decision("token_not_yet_valid")
    if person == "blocked":
        return Decision("person_blocked")
    if person == "inactive":
        return Decision("person_inactive")
    if one_session_per_token and usage.running_sessions > 0:
        return Decision("concurrent")
    if not rules:
        return Decision("allowed")
    here = [rule for rule in rules if rule.covers_place(place)]
    if not here:
        return Decision("not_at_this_location")
    local = now.astimezone(ZoneInfo(place.time_zone))
    current = [rule for rule in here if rule.valid_on(local.date())]
    if not current:
        return Decision("outside_validity")
    open_now = [rule for rule in current if rule.open_at(local)]
    if not open_now:
        return Decision("not_at_this_time")
    for rule in open_now:
        if rule.monthly_kwh_quota is None or usage.kwh_this_month < rule.monthly_kwh_quota:
            return Decision("allowed", rule.id)
    return Decision("quota_exhausted", open_now[0].id)


def month_start(now: datetime, time_zone: str) -> datetime:
    """The first instant of ``now``'s calendar month in the given zone (quotas count per local month)."""
    local = now.astimezone(ZoneInfo(time_zone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# --- OCPP statuses ---------------------------------------------------------------------------------------------

# OCPP 1.6 §7.3 AuthorizationStatus has five values: "Invalid" covers "not for use here or now".
_OCPP16: dict[Reason, str] = {
    "allowed": "Accepted",
    "unknown": "Invalid",
    "token_blocked": "Blocked",
    "person_blocked": "Blocked",
    "person_inactive": "Blocked",
    "token_expired": "Expired",
    "token_not_yet_valid": "Invalid",
    "outside_validity": "Expired",
    "not_at_this_location": "Invalid",
    "not_at_this_time": "Invalid",
    "quota_exhausted": "Invalid",
    "concurrent": "ConcurrentTx",
    "partner_refused": "Invalid",
}
# OCPP 2.0.1 AuthorizationStatusEnumType says more.
_OCPP201: dict[Reason, str] = {
    "allowed": "Accepted",
    "unknown": "Unknown",
    "token_blocked": "Blocked",
    "person_blocked": "Blocked",
    "person_inactive": "Blocked",
    "token_expired": "Expired",
    "token_not_yet_valid": "Invalid",
    "outside_validity": "Expired",
    "not_at_this_location": "NotAtThisLocation",
    "not_at_this_time": "NotAtThisTime",
    "quota_exhausted": "NoCredit",
    "concurrent": "ConcurrentTx",
    "partner_refused": "Invalid",
}


def ocpp_status(reason: Reason, version: str) -> str:
    return (_OCPP16 if version == "1.6" else _OCPP201)[reason]
