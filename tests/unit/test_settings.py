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
