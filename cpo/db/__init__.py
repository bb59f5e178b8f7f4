"""Persistence: the declarative base, engines, the embedded PostgreSQL and migrations."""
