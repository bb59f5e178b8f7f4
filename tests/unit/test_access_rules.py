"""The access decision and token matching: examples, and properties checked against independent oracles."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpo.access.rules import Place, Rule, Token, Usage, Window, WindowError, decide, month_start, ocpp_status
from cpo.access.tokens import canonical_uid, uid_key

BRUSSELS = "Europe/Brussels"
SITE, OTHER_SITE, EVSE = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
HERE = Place(SITE, EVSE, BRUSSELS)
ACTIVE = Token("active")


def local(text: str, zone: str = BRUSSELS) -> datetime:
    """A wall-clock time at the site, as an aware instant."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def office_hours(**fields: object) -> Rule:
    return Rule(uuid.uuid4(), windows=(Window.parse("mon-fri 07:00-19:00"),), **fields)  # type: ignore[arg-type]


def test_office_hours_allow_ten_in_the_morning_and_refuse_ten_at_night() -> None:
    rule = office_hours()
    assert decide(ACTIVE, "active", [rule], HERE, local("2026-11-23T10:00")).allowed  # a Monday
    late = decide(ACTIVE, "active", [rule], HERE, local("2026-11-23T22:00"))
    assert late.reason == "not_at_this_time"
    assert ocpp_status(late.reason, "1.6") == "Invalid" and ocpp_status(late.reason, "2.0.1") == "NotAtThisTime"
    assert decide(ACTIVE, "active", [rule], HERE, local("2026-11-28T10:00")).reason == "not_at_this_time"  # Sat


def test_a_window_past_midnight_runs_into_the_next_morning() -> None:
    night = Rule(uuid.uuid4(), windows=(Window.parse("fri 22:00-06:00"),))
    at = {
        "2026-11-27T23:00": True,  # Friday night
        "2026-11-28T05:59": True,  # Saturday early
        "2026-11-28T06:00": False,
        "2026-11-27T21:59": False,
        "2026-11-26T23:00": False,  # Thursday night
    }
    for moment, allowed in at.items():
        assert decide(ACTIVE, None, [night], HERE, local(moment)).allowed is allowed, moment


def test_windows_are_read_in_the_site_time_zone_across_summer_time() -> None:
    rule = office_hours()
    # 07:30 on the Monday after each change: 05:30 UTC in summer, 06:30 UTC in winter.
    assert decide(ACTIVE, None, [rule], HERE, datetime(2026, 3, 30, 5, 30, tzinfo=UTC)).allowed
    assert decide(ACTIVE, None, [rule], HERE, datetime(2026, 10, 26, 6, 30, tzinfo=UTC)).allowed
    assert not decide(ACTIVE, None, [rule], HERE, datetime(2026, 10, 26, 5, 30, tzinfo=UTC)).allowed


def test_tokens_and_people_come_before_rules() -> None:
    now = local("2026-11-23T10:00")
    assert decide(None, None, [], HERE, now).reason == "unknown"
    assert decide(Token("blocked"), "active", [], HERE, now).reason == "token_blocked"
    assert decide(Token("expired"), "active", [], HERE, now).reason == "token_expired"
    assert decide(Token("active", valid_to=now), "active", [], HERE, now).reason == "token_expired"
    assert decide(Token("active", valid_from=now + timedelta(seconds=1)), None, [], HERE, now).reason == (
        "token_not_yet_valid"
    )
    assert decide(ACTIVE, "blocked", [], HERE, now).reason == "person_blocked"
    assert decide(ACTIVE, "inactive", [], HERE, now).reason == "person_inactive"
    assert decide(ACTIVE, "active", [], HERE, now).allowed
    assert ocpp_status("person_blocked", "1.6") == "Blocked"


def test_places_quota_and_one_session_at_a_time() -> None:
    now = local("2026-11-23T10:00")
    elsewhere = Rule(uuid.uuid4(), site_ids=frozenset({OTHER_SITE}))
    assert decide(ACTIVE, None, [elsewhere], HERE, now).reason == "not_at_this_location"
    other_evse = Rule(uuid.uuid4(), site_ids=frozenset({SITE}), evse_ids=frozenset({uuid.uuid4()}))
    assert decide(ACTIVE, None, [other_evse], HERE, now).reason == "not_at_this_location"
    assert decide(ACTIVE, None, [elsewhere, other_evse, office_hours()], HERE, now).allowed
    assert decide(ACTIVE, None, [other_evse], Place(SITE, None, BRUSSELS), now).allowed  # no EVSE named yet
    quota = Rule(uuid.uuid4(), monthly_kwh_quota=Decimal(100))
    assert decide(ACTIVE, None, [quota], HERE, now, Usage(Decimal("99.9"))).allowed
    spent = decide(ACTIVE, None, [quota], HERE, now, Usage(Decimal(100)))
    assert spent.reason == "quota_exhausted" and ocpp_status(spent.reason, "2.0.1") == "NoCredit"
    busy = decide(ACTIVE, None, [], HERE, now, Usage(running_sessions=1), one_session_per_token=True)
    assert busy.reason == "concurrent" and ocpp_status(busy.reason, "1.6") == "ConcurrentTx"
    assert decide(ACTIVE, None, [], HERE, now, Usage(running_sessions=1)).allowed


def test_unreadable_windows_are_refused_with_a_reason() -> None:
    for text in ("weekdays 7-19", "mon-fri 07:00-25:00", "funday 07:00-19:00", "mon-fri 0700-1900", ""):
        with pytest.raises(WindowError):
            Window.parse(text)
    assert Window.parse("sat-mon 22:00-24:00").to_text() == "mon,sat-sun 22:00-00:00"


# --- properties ------------------------------------------------------------------------------------------------

# hypothesis takes naive bounds and attaches the time zone itself
A_YEAR = st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC))  # noqa: DTZ001
zones = st.sampled_from([BRUSSELS, "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"])
clock = st.times().map(lambda t: t.replace(second=0, microsecond=0))
windows = st.builds(Window, st.frozensets(st.integers(0, 6), min_size=1), clock, clock)
# Instants of a year with its summer-time changes, dense around them.
instants = st.one_of(
    A_YEAR,
    st.integers(-36 * 60, 36 * 60).map(lambda m: datetime(2026, 3, 29, 1, tzinfo=UTC) + timedelta(minutes=m)),
    st.integers(-36 * 60, 36 * 60).map(lambda m: datetime(2026, 10, 25, 1, tzinfo=UTC) + timedelta(minutes=m)),
)
WEEK = 7 * 1440


def window_oracle(window: Window, instant: datetime, zone: str) -> bool:
    """Minutes of the local week: each listed day opens an interval of the window's length, wrapping."""
    wall = instant.astimezone(ZoneInfo(zone))
    minute = wall.weekday() * 1440 + wall.hour * 60 + wall.minute
    start = window.start.hour * 60 + window.start.minute
    end = window.end.hour * 60 + window.end.minute
    length = (end - start) % 1440 or 1440
    for day in window.days:
        opens = day * 1440 + start
        if opens <= minute < opens + length or opens <= minute + WEEK < opens + length:
            return True
    return False


@settings(max_examples=400, deadline=None)
@given(windows, instants, zones)
def test_window_membership_matches_minutes_of_the_local_week(window: Window, instant: datetime, zone: str) -> None:
    rule = Rule(uuid.uuid4(), windows=(window,), evse_ids=frozenset({EVSE}))
    at = instant.replace(second=0, microsecond=0)
    expected = window_oracle(window, at, zone)
    assert decide(ACTIVE, None, [rule], Place(SITE, EVSE, zone), at).allowed is expected
    # An Authorize that names no EVSE is held to the hours all the same
    assert decide(ACTIVE, None, [rule], Place(SITE, None, zone), at).allowed is expected


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2026, 1, 1), date(2026, 12, 31)), zones, st.integers(0, 1439))
def test_validity_dates_are_inclusive_local_days(last_day: date, zone: str, minute: int) -> None:
    rule = Rule(uuid.uuid4(), valid_from=last_day - timedelta(days=3), valid_until=last_day)
    place = Place(SITE, EVSE, zone)
    wall = datetime.combine(last_day, time(minute // 60, minute % 60), ZoneInfo(zone))
    assert decide(ACTIVE, None, [rule], place, wall).allowed
    assert decide(ACTIVE, None, [rule], place, wall + timedelta(days=1)).reason == "outside_validity"
    assert decide(ACTIVE, None, [rule], place, wall - timedelta(days=4)).reason == "outside_validity"


@given(A_YEAR, zones)
def test_a_month_starts_at_local_midnight_of_its_first_day(instant: datetime, zone: str) -> None:
    start = month_start(instant, zone)
    wall = instant.astimezone(ZoneInfo(zone))
    assert start <= instant and (start.year, start.month, start.day, start.hour) == (wall.year, wall.month, 1, 0)


uid_bytes = st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=7, max_size=7)).filter(
    lambda b: b[0] != 0 and b[-1] != 0  # zero end bytes cannot be told from padding
)


@given(uid_bytes, st.sampled_from([8, 10, 16]), st.booleans(), st.sampled_from(["", ":", "-", " "]), st.booleans())
def test_every_report_of_one_card_has_one_key(uid: bytes, padded_to: int, pad_front: bool, sep: str, low: bool) -> None:
    def written(data: bytes) -> str:
        text = sep.join(f"{byte:02x}" if low else f"{byte:02X}" for byte in data)
        return text

    key = uid_key(uid.hex())
    padding = bytes(padded_to - len(uid))
    assert uid_key(written(uid)) == key
    assert uid_key(written(uid[::-1])) == key
    assert uid_key(written(padding + uid if pad_front else uid + padding)) == key
    assert uid_key(written((padding + uid if pad_front else uid + padding)[::-1])) == key
    assert canonical_uid(written(uid)) == uid.hex().upper()


@given(uid_bytes, uid_bytes)
def test_different_cards_have_different_keys(a: bytes, b: bytes) -> None:
    if a != b and a != b[::-1]:
        assert uid_key(a.hex()) != uid_key(b.hex())


def test_tokens_that_are_not_hex_are_kept_as_given() -> None:
    assert canonical_uid("  NL-TNM-C00122045-K ") == "NL-TNM-C00122045-K"
    assert uid_key("emaid:NLTNMC00122045") == "emaid:NLTNMC00122045"
