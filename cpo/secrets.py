"""Hashing of secrets at rest: slow scrypt for passwords, SHA-256 for long random tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

# scrypt cost: about 16 MiB and some tens of milliseconds per check, which is the point.
_N, _R, _P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(_unb64(digest))
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, _unb64(digest))


async def hash_password_async(password: str) -> str:
    """``hash_password`` in a worker thread: scrypt must not stall the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, stored: str) -> bool:
    return await asyncio.to_thread(verify_password, password, stored)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """Tokens are 256-bit random: a fast hash is enough and lets us look them up by hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_station_password() -> str:
    # 24 characters of URL-safe base64: inside OCPP's 16-40 range and safe in any Basic-auth header.
    return secrets.token_urlsafe(18)
