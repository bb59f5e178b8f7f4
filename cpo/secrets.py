"""Hashing of secrets at rest: argon2id for people's passwords, scrypt for stations', SHA-256 for tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with the library's defaults (RFC 9106's second recommended option: 64 MiB, 3 passes).
_ARGON2 = PasswordHasher()

# scrypt cost: about 16 MiB and some tens of milliseconds per check, which is the point.
_N, _R, _P = 2**14, 8, 1
# Station passwords are checked on every (re)connect: after a node restart thousands arrive at once. A
# lighter cost (about 2 MiB, a few ms) keeps such a storm within seconds on one core, while a stolen hash
# still costs an attacker thousands of times more per guess than a plain hash would.
STATION_N = 2**11


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, n: int = _N) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, dklen=32)
    return f"scrypt${n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


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


def hash_login_password(password: str) -> str:
    """A person's password (UI sign-in): argon2id."""
    return _ARGON2.hash(password)


def verify_login_password(password: str, stored: str) -> bool:
    """argon2id, or an scrypt hash from before argon2 (replaced at the next sign-in: ``login_hash_outdated``)."""
    if not stored.startswith("$argon2"):
        return verify_password(password, stored)
    try:
        return _ARGON2.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def login_hash_outdated(stored: str) -> bool:
    return not stored.startswith("$argon2") or _ARGON2.check_needs_rehash(stored)


async def hash_login_password_async(password: str) -> str:
    """In a worker thread: argon2 must not stall the event loop."""
    return await asyncio.to_thread(hash_login_password, password)


async def verify_login_password_async(password: str, stored: str) -> bool:
    return await asyncio.to_thread(verify_login_password, password, stored)


async def hash_station_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password, STATION_N)


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
