"""Secrets encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256), under the platform's secret key."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from cpo.settings import Settings

KEY_FILE = "secret.key"


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key).digest()))

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError("sealed under another secret key (was CPO_SECRET_KEY changed?)") from None


def sealer_for(settings: Settings) -> Sealer:
    """``CPO_SECRET_KEY``, else a key file in the data directory, made once (readable by the owner only)."""
    if settings.security.secret_key:
        return Sealer(settings.security.secret_key.encode())
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
    return Sealer(path.read_text().strip().encode())
