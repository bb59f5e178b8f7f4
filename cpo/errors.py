"""The one error tree of the domain; each transport maps these once (HTTP problem details, OCPP, OCPI)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFound(DomainError):
    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} not found")
        self.kind = kind
        self.key = key


class Conflict(DomainError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidInput(DomainError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Unauthenticated(DomainError):
    """No or wrong credentials."""


class Forbidden(DomainError):
    """Authenticated, but the role does not allow this."""
