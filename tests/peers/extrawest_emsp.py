"""An independent eMSP for interoperability tests: the ``extrawest-ocpi`` package (FastAPI), run as its own
server in its own virtualenv (``make`` builds ``.venv-emsp`` from ``extrawest-requirements.txt``).

Run: .venv-emsp/bin/python tests/peers/extrawest_emsp.py PORT TOKEN_A

It accepts a registration made with TOKEN_A, keeps what is pushed to its receiver interfaces in memory, and
shows it at ``GET /_received`` (for the test to read). Nothing here imports the platform.
"""

from __future__ import annotations

import os
import secrets
import sys
from typing import Any

PORT, TOKEN_A = int(sys.argv[1]), sys.argv[2]
# The package reads these at import time to build its own endpoint URLs.
os.environ.update({"OCPI_HOST": f"127.0.0.1:{PORT}", "PROTOCOL": "http", "COUNTRY_CODE": "NL", "PARTY_ID": "XWE"})

import uvicorn  # noqa: E402
from py_ocpi import get_application  # noqa: E402
from py_ocpi.core.authentication.authenticator import Authenticator  # noqa: E402
from py_ocpi.core.crud import Crud  # noqa: E402
from py_ocpi.core.enums import ModuleID, RoleEnum  # noqa: E402
from py_ocpi.modules.versions.enums import VersionNumber  # noqa: E402

TOKENS_C: list[str] = []
RECEIVED: dict[str, dict[str, Any]] = {}
"""module -> object id -> the object as last pushed."""
PARTNER: dict[str, Any] = {}


class Tokens(Authenticator):
    @classmethod
    async def get_valid_token_c(cls) -> list[str]:
        return TOKENS_C

    @classmethod
    async def get_valid_token_a(cls) -> list[str]:
        return [TOKEN_A]


def _key(module: Any) -> str:
    return str(getattr(module, "value", module))


class Memory(Crud):
    @classmethod
    async def get(cls, module: ModuleID, role: RoleEnum, id: Any, *args: Any, **kwargs: Any) -> Any:
        if module == ModuleID.credentials_and_registration:
            return PARTNER.get("ours")
        return RECEIVED.get(_key(module), {}).get(str(id))

    @classmethod
    async def list(cls, module: ModuleID, role: RoleEnum, filters: dict, *args: Any, **kwargs: Any) -> Any:
        return list(RECEIVED.get(_key(module), {}).values()), len(RECEIVED.get(_key(module), {})), True

    @classmethod
    async def create(cls, module: ModuleID, role: RoleEnum, data: dict, *args: Any, **kwargs: Any) -> Any:
        if module == ModuleID.credentials_and_registration:
            token_c = secrets.token_urlsafe(24)
            TOKENS_C.append(token_c)
            PARTNER["theirs"] = data
            PARTNER["ours"] = {
                "token": token_c, "url": f"http://127.0.0.1:{PORT}/ocpi/versions",
                "roles": [{"role": "EMSP", "party_id": "XWE", "country_code": "NL",
                           "business_details": {"name": "Extrawest eMSP"}}],
            }  # fmt: skip
            return PARTNER["ours"]
        object_id = str(data.get("id") or data.get("uid") or kwargs.get("id") or len(RECEIVED))
        RECEIVED.setdefault(_key(module), {})[object_id] = data
        return data

    @classmethod
    async def update(cls, module: ModuleID, role: RoleEnum, data: dict, id: Any, *args: Any, **kwargs: Any) -> Any:
        if module == ModuleID.credentials_and_registration:
            return PARTNER.get("ours")
        RECEIVED.setdefault(_key(module), {})[str(id)] = data
        return data

    @classmethod
    async def delete(cls, module: ModuleID, role: RoleEnum, id: Any, *args: Any, **kwargs: Any) -> None:
        if module == ModuleID.credentials_and_registration:
            PARTNER.clear()
            return
        RECEIVED.get(_key(module), {}).pop(str(id), None)

    @classmethod
    async def do(cls, module: ModuleID, role: Any, action: Any, *args: Any, data: Any = None, **kwargs: Any) -> Any:
        return None


app = get_application(
    version_numbers=[VersionNumber.v_2_2_1],
    roles=[RoleEnum.emsp],
    crud=Memory,
    modules=[
        ModuleID.credentials_and_registration,
        ModuleID.locations,
        ModuleID.tariffs,
        ModuleID.sessions,
        ModuleID.cdrs,
        ModuleID.tokens,
        ModuleID.commands,
    ],
    authenticator=Tokens,
)


@app.get("/_received")
async def received() -> dict[str, Any]:
    return {"objects": RECEIVED, "registered": bool(PARTNER.get("theirs")), "tokens_c": len(TOKENS_C)}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
