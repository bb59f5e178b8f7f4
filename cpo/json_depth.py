"""How deeply a JSON text nests, measured before anyone decodes it.

msgspec (and the standard library) decode nested arrays and objects recursively: ``[`` x 5000 raises
RecursionError deep inside a request, which the transports would answer with a 500 (or, on an OCPP
connection, by dropping it). Each transport asks ``nested_too_deep`` first and refuses such input as
malformed. No message of any protocol we speak nests anywhere near ``MAX_DEPTH``.
"""

from __future__ import annotations

from itertools import accumulate

MAX_DEPTH = 64

# Everything but the four brackets is deleted; an opening bracket counts +1, a closing one -1.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def nested_too_deep(text: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """Do arrays and objects in ``text`` nest more than ``limit`` deep? (Brackets inside strings do not count.)

    Linear and done in C but for one pass over the brackets, which is taken only when there are more
    brackets than ``limit`` at all; text that is not JSON gets an answer too, the decoder then refuses it.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    # Outside strings only: drop the escaped backslashes, then the escaped quotes, and every other piece
    # between quotes is outside a string.
    outside = b"".join(raw.replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')[::2])
    brackets = outside.translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return False
    return max(accumulate(map(_STEP.__getitem__, brackets))) > limit
