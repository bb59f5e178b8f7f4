"""Token identifiers: one canonical form to store, and one match key for every way a reader reports a card.

RFID readers disagree: ``04:a2:3b:1c``, ``04A23B1C`` and ``1C3BA204`` (reversed byte order) are one card,
and some readers pad a 4- or 7-byte UID with zero bytes to 8, 10 or 16 bytes, in front or behind. The
canonical form keeps what the admin entered, tidied (upper-case hex, no separators); the match key also
drops such padding and takes the byte order that sorts first, so every report of one card has one key.
"""

from __future__ import annotations

import re

_HEX = re.compile(r"^[0-9A-F]+$")
_SEPARATORS = re.compile(r"[\s:\-.]")
_UID_SIZES = (4, 7)  # ISO/IEC 14443 single and double size UIDs, in bytes
_PADDED_SIZES = (8, 10, 16)  # the buffer sizes readers pad them to
MAX_HEX_TEXT = 100  # 16 bytes as hex with a separator between each two digits, and room to spare

TOKEN_TYPES = ("ISO14443", "ISO15693", "eMAID", "Central", "KeyCode", "MacAddress", "Local", "NoAuthorization")
"""OCPP 2.0.1 IdTokenEnumType."""
CARD_TYPES = ("ISO14443", "ISO15693")


def _is_hex_uid(text: str) -> bool:
    return bool(text) and len(text) <= MAX_HEX_TEXT and len(text) % 2 == 0 and _HEX.match(text) is not None


def canonical_uid(uid: str) -> str:
    """Hex UIDs in upper case without separators or ``0x``; anything else as given, trimmed."""
    stripped = uid.strip()
    if len(stripped) > MAX_HEX_TEXT:
        return stripped  # too long to be a card's UID, with or without separators: nothing to tidy
    cleaned = _SEPARATORS.sub("", stripped).upper()
    cleaned = cleaned.removeprefix("0X")
    return cleaned if _is_hex_uid(cleaned) else stripped


def _reversed_bytes(hex_uid: str) -> str:
    return "".join(reversed([hex_uid[i : i + 2] for i in range(0, len(hex_uid), 2)]))


def uid_key(uid: str) -> str:
    """The match key: equal for every case, separator, byte order and zero padding of one card's UID."""
    canonical = canonical_uid(uid)
    if not _is_hex_uid(canonical):
        return canonical
    core = canonical
    size = len(canonical) // 2
    if size in _PADDED_SIZES:
        for length in _UID_SIZES:
            if length >= size:
                break
            if set(canonical[2 * length :]) == {"0"}:
                core = canonical[: 2 * length]
                break
            if set(canonical[: 2 * (size - length)]) == {"0"}:
                core = canonical[2 * (size - length) :]
                break
    return min(core, _reversed_bytes(core))
