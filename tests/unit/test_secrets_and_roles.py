from __future__ import annotations

import uuid

import pytest

from cpo.accounts.roles import Principal
from cpo.errors import Forbidden
from cpo.secrets import hash_password, hash_token, new_station_password, verify_password


def test_passwords_verify_only_against_their_own_salted_hash() -> None:
    first, second = hash_password("station secret 123"), hash_password("station secret 123")
    assert first != second, "salted"
    assert verify_password("station secret 123", first) and verify_password("station secret 123", second)
    assert not verify_password("station secret 124", first)
    assert not verify_password("x", "garbage") and not verify_password("x", "md5$1$2$3$4$5")


def test_station_passwords_fit_ocpp_basic_auth_rules() -> None:
    passwords = {new_station_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(16 <= len(p) <= 40 and ":" not in p for p in passwords)


def test_token_hash_is_stable_sha256() -> None:
    assert hash_token("abc") == hash_token("abc") and len(hash_token("abc")) == 64


def test_roles() -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    reader = Principal(tenant, "read_only", "token:1")
    reader.require("sites.read")
    with pytest.raises(Forbidden):
        reader.require("sites.write")
    admin = Principal(tenant, "tenant_admin", "token:2")
    admin.require("sites.write")
    admin.require("people.write")
    assert admin.acting_for(tenant) == admin
    with pytest.raises(Forbidden):
        admin.acting_for(other)
    platform = Principal(tenant, "platform_admin", "token:3")
    assert platform.acting_for(other).tenant_id == other
