"""Slows down password guessing: too many failed sign-ins from one address, and it must wait."""

from __future__ import annotations

import time
from collections import deque


class LoginThrottle:
    """Per-node memory of recent failures by client address (a sliding window)."""

    def __init__(self, limit: int = 10, window_seconds: float = 300.0) -> None:
        self.limit = limit
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def blocked_for(self, key: str) -> float:
        """Seconds until this address may try again; 0 when it may try now."""
        now = time.monotonic()
        failures = self._recent(key, now)
        if len(failures) < self.limit:
            if not failures:
                self._failures.pop(key, None)
            return 0.0
        return failures[0] + self.window - now

    def failed(self, key: str) -> None:
        now = time.monotonic()
        self._recent(key, now).append(now)
        if len(self._failures) > 100_000:  # bounded memory under a spray of addresses
            self._failures.clear()

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
