from __future__ import annotations

from pathlib import Path

import pytest

from cpo.errors import InvalidInput
from cpo.settings import load_settings


def test_defaults_run_the_embedded_database_on_port_8080() -> None:
    settings = load_settings({})
    assert settings.database.url is None
    assert settings.server.port == 8080 and settings.data_dir == Path("var")
    assert settings.base_url == "http://localhost:8080"
    assert settings.ocpp_url == "ws://localhost:8080/ocpp/"


def test_environment_overrides_and_public_url_drives_the_ocpp_url() -> None:
    settings = load_settings(
        {"CPO_DATABASE_URL": "postgresql://u:p@db/cpo", "CPO_PORT": "9000", "CPO_PUBLIC_URL": "https://cpo.example.com/",
         "CPO_OUTBOX_ENABLED": "false", "CPO_DATA_DIR": "/srv/cpo"}
    )  # fmt: skip
    assert settings.database.url == "postgresql://u:p@db/cpo"
    assert settings.server.port == 9000 and not settings.outbox.enabled
    assert settings.ocpp_url == "wss://cpo.example.com/ocpp/"
    assert settings.data_dir == Path("/srv/cpo")


@pytest.mark.parametrize(
    ("name", "value"),
    [("CPO_PORT", "eighty"), ("CPO_PORT", "70000"), ("CPO_LOG_JSON", "maybe"), ("CPO_DATABASE_URL", "mysql://x"),
     ("CPO_LOG_LEVEL", "LOUD"), ("CPO_OUTBOX_POLL_SECONDS", "soon")],
)  # fmt: skip
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        load_settings({name: value})
    assert raised.value.field == name


def test_trusted_proxies_are_addresses_or_networks_and_trust_proxy_alone_is_refused() -> None:
    settings = load_settings({"CPO_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1", "CPO_TRUST_PROXY": "true"})
    assert [str(n) for n in settings.server.trusted_proxies] == ["10.0.0.0/8", "192.0.2.1/32"]
    assert load_settings({}).server.trusted_proxies == ()
    with pytest.raises(InvalidInput) as alone:
        load_settings({"CPO_TRUST_PROXY": "true"})
    assert alone.value.field == "CPO_TRUST_PROXY" and "CPO_TRUSTED_PROXIES" in str(alone.value)
    with pytest.raises(InvalidInput) as bad:
        load_settings({"CPO_TRUSTED_PROXIES": "proxy.example.com"})
    assert bad.value.field == "CPO_TRUSTED_PROXIES"
