"""Charge point management platform: the core (domain, persistence, admin API and UI, CLI)."""

__version__ = "0.1.0"
