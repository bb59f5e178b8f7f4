"""GDPR erasure through a real platform: afterwards the person's name, e-mail and badge UID are nowhere in the
database (audit log, station commands and events, stations' local lists), and the CDR of their session is
still a valid OCPI CDR."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

import pytest
from ocpp.v16 import call
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts.service import create_account
from cpo.accounts.sign_in_limits import account_key, record_sign_in_failure
from cpo.audit.capture import act_as
from cpo.people.models import Person
from tests.integration.ocpp_support import Server, connect, start_server
from tests.ocpi_schemas import errors

NAME, EMAIL, UID = "Rosalind Franklin", "rosalind.franklin@example.org", "F4A9C3E1"
NEEDLES = (NAME, EMAIL, UID, account_key(EMAIL))
"""The last: the plain hash a failed sign-in is kept under, which anyone knowing the address can compute."""
VARIANTS = ("e1c3a9f4", "f4:a9:c3:e1")
"""The same card as readers report it: reversed byte order in lower case, and with separators."""


@pytest.fixture(scope="module")
def server(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("erasure"), module_db_url, CPO_OUTBOX_POLL_SECONDS="1")
    yield running
    assert running.platform.stop() == 0


async def eventually(check: Callable[[], Awaitable[bool] | bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        outcome = check()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.1)


async def where_stored(db: async_sessionmaker[AsyncSession], needle: str) -> set[str]:
    """Every table with a row whose text (all its columns, JSON included) holds the needle, in any case."""
    async with db() as session:
        tables = (await session.execute(text(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        ))).scalars().all()  # fmt: skip
        found = set()
        for table in tables:
            hits = await session.scalar(
                text(f'SELECT count(*) FROM "{table}" AS r WHERE r::text ILIKE :n'), {"n": f"%{needle}%"}
            )
            if hits:
                found.add(table)
        return found


async def test_erasure_leaves_the_name_e_mail_and_uid_nowhere_in_the_database_and_the_cdr_valid(
    server: Server, db: async_sessionmaker[AsyncSession]
) -> None:
    async with server.api() as api:
        person = (await api.post("/api/v1/people", json={"name": NAME, "email": EMAIL})).json()
        badge = await api.post("/api/v1/badges", json={"uid": UID, "person_id": person["id"], "label": "lab card"})
        assert badge.status_code == 201, badge.text
        tariff = (await api.post("/api/v1/tariffs", json={
            "code": "E", "name": "E", "currency": "EUR", "valid_from": "2026-01-01T00:00:00Z",
            "body": {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.30", "vat": "21",
                                                         "step_size": 1}]}]},
        })).json()  # fmt: skip
        await api.post("/api/v1/tariff-assignments", json={"tariff_id": tariff["id"], "audience": "internal"})
    # The person's own sign-in account, made by an administrator: the audit log holds its e-mail and name.
    async with db() as session, session.begin():
        act_as(session, "test:admin")
        tenant_id = (await session.execute(select(Person.tenant_id).where(Person.id == uuid.UUID(person["id"])))
                     ).scalar_one()  # fmt: skip
        await create_account(session, tenant_id, EMAIL, NAME, "a long enough password", "employee",
                             person_id=uuid.UUID(person["id"]))  # fmt: skip
        await record_sign_in_failure(session, EMAIL.upper())  # a mistyped password: kept under a hash of the address

    station = await server.new_station()
    async with connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await eventually(lambda: cp.local_authorize(UID) == "Accepted")  # a SendLocalList with the UID
        async with server.api() as api:
            started = await api.post(f"/api/v1/stations/{station['id']}/commands",
                                     json={"name": "remote_start", "arguments": {"id_tag": UID, "connector": 1}})  # fmt: skip
            assert started.json()["accepted"] is True, started.text
        session = await cp.call(call.StartTransaction(connector_id=1, id_tag=UID, meter_start=0,
                                                      timestamp="2026-11-23T09:00:00Z"))  # fmt: skip
        await cp.call(call.StopTransaction(meter_stop=4000, timestamp="2026-11-23T10:00:00Z", id_tag=UID,
                                           transaction_id=session.transaction_id))  # fmt: skip
        # a stop for a session nobody knows, and a station's own note: both kept as station events
        await cp.call(call.StopTransaction(meter_stop=10, timestamp="2026-11-23T11:00:00Z", id_tag=VARIANTS[0],
                                           transaction_id=987_654_321))  # fmt: skip
        await cp.call(call.SecurityEventNotification(type="TamperDetectionActivated", timestamp="2026-11-23T11:05:00Z",
                                                     tech_info=f"card {VARIANTS[1]} held"))  # fmt: skip

        async def cdr_issued() -> bool:
            async with server.api() as api:
                return bool((await api.get("/api/v1/cdrs")).json())

        await eventually(cdr_issued)
        for needle in NEEDLES[:3]:
            assert "audit_log" in await where_stored(db, needle), needle
        assert await where_stored(db, account_key(EMAIL)) == {"sign_in_failures"}
        held = await where_stored(db, UID)
        assert {"station_commands", "local_list_entries", "charging_sessions"} <= held, held
        for variant in VARIANTS:
            assert "station_events" in await where_stored(db, variant), variant

        async with server.api() as api:
            erased = await api.delete(f"/api/v1/people/{person['id']}/personal-data")
            assert erased.status_code == 200, erased.text
            assert erased.json()["accounts_removed"] == 1
        # the station is told to forget the badge, without a record of the UID being made to do so
        await eventually(lambda: cp.local_authorize(UID) == "Unknown")

    left = {needle: await where_stored(db, needle) for needle in (*NEEDLES, *VARIANTS)}
    assert left == {needle: set() for needle in (*NEEDLES, *VARIANTS)}, "still stored"
    async with server.api() as api:
        [cdr] = (await api.get("/api/v1/cdrs")).json()
        for version in ("2.2.1", "2.3.0"):
            body = (await api.get(f"/api/v1/cdrs/{cdr['id']}/ocpi", params={"version": version})).json()
            assert errors(body, version, "cdrs", "CDR") == [], (version, body)
            assert body["cdr_token"]["uid"].startswith("anon-")
        assert datetime.fromisoformat(cdr["end_date_time"]) == datetime(2026, 11, 23, 10, tzinfo=UTC)
