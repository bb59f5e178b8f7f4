"""How deeply a JSON text nests, measured before anyone decodes it.

msgspec (and the standard library) decode nested arrays and objects recursively: ``[`` x 5000 raises
RecursionError deep inside a request, which the transports would answer with a 500 (or, on an OCPP
connection, by dropping it). Each transport asks ``nested_too_deep`` first and refuses such input as
malformed. No message of any protocol we speak nests anywhere near ``MAX_DEPTH``.
"""

from __future__ import annotations

import re
from itertools import accumulate

MAX_DEPTH = 64

# Everything but the four brackets is deleted, and objects count as arrays: only the nesting matters.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")
_RUNS = re.compile(rb"\[+|\]+")
_OPEN = ord("[")


def nested_too_deep(text: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """Do arrays and objects in ``text`` nest more than ``limit`` deep? (Brackets inside strings do not count.)

    Exact for well-formed JSON (text that is not may be judged deeper than it is: its decoder refuses it
    anyway). Linear, and but for a few thousand runs of brackets done in C: a megabyte takes milliseconds.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    # Outside strings only: drop the escaped backslashes, then the escaped quotes; then every other piece
    # between quotes is outside a string.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(_AS_ARRAYS, _NOT_BRACKETS)
    # Each pass takes out the innermost pairs, and with them one level of nesting everywhere. Passes are
    # cheap while they take out much (``[]`` x 500000 goes at once); once a pass takes out little, the runs
    # of brackets left are few (under a tenth of them) and their depths are counted instead.
    levels = 0
    while levels <= limit:
        fewer = brackets.replace(b"[]", b"")
        taken = len(brackets) - len(fewer)
        if not taken:
            break
        brackets, levels = fewer, levels + 1
        if taken * 10 < len(brackets):
            break
    if levels > limit:
        return True
    steps = [len(run) if run[0] == _OPEN else -len(run) for run in _RUNS.findall(brackets)]
    return levels + max(accumulate(steps), default=0) > limit
